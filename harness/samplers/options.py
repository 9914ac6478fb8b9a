"""Sampler options, declared once: a frozen dataclass per sampler.

Each sampler names its options type (`Sampler.Options`). Parsing KEY=VALUE input, type checks,
range checks, `nas-harness ls samplers` help and the run config's hash all come from that one
declaration:

    @dataclass(frozen=True)
    class MyOptions(SamplerOptions):
        tau: float = option(7.0, "temperature", minimum=0.0, exclusive=True)

`SamplerOptions.parse(raw, sampler)` rejects unknown names with a "did you mean", converts values
to the declared type (a string "abc" for a float is an error, not a silent default), checks
choices and ranges, and returns the frozen options; `to_dict()` is what the run config records,
every default filled in, so the hash names the run that actually happens.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.errors import HarnessError, did_you_mean


def option(default: Any, help: str, *, choices: tuple | None = None,
           minimum: float | None = None, exclusive: bool = False,
           recorded_when_set: bool = False) -> Any:
    """A dataclass field with its help text and checks (choices, a lower bound).
    recorded_when_set: an option added after runs were cached; at its default it is left out of
    the recorded options (and so of the config hash), so those runs keep their names."""
    meta = {"help": help, "choices": choices, "minimum": minimum, "exclusive": exclusive,
            "recorded_when_set": recorded_when_set}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def _default(f: dataclasses.Field) -> Any:
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "null"
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        (inner,) = typing.get_args(tp) or (str,)
        return f"a list of {_type_name(inner).removeprefix('a ').removeprefix('an ')}s"
    return {float: "a number", int: "an integer", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp)))


class _Mismatch(Exception):
    pass


def _coerce(value: Any, tp: Any) -> Any:
    """`value` as type `tp`, or _Mismatch. Strings from the command line are accepted where they
    spell a value of the type ("0.5", "true", "none", "a,b")."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
            if type(None) in args:
                return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is list:
        (inner,) = typing.get_args(tp) or (str,)
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, (list, tuple)):
            raise _Mismatch
        return [_coerce(item.strip() if isinstance(item, str) else item, inner) for item in items]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _Mismatch
    if tp is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                raise _Mismatch from None
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    raise _Mismatch


@dataclass(frozen=True)
class SamplerOptions:
    """Options of a sampler that takes none."""

    @classmethod
    def fields(cls) -> list[dataclasses.Field]:
        return list(dataclasses.fields(cls))

    @classmethod
    def _hints(cls) -> dict[str, Any]:
        return typing.get_type_hints(cls)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | SamplerOptions | None, sampler: str) -> SamplerOptions:
        """Validated options from user input (unknown names, wrong types and bad values raise).
        Options already of this type were checked when they were made and come back as they are;
        another sampler's are refused."""
        if isinstance(raw, SamplerOptions):
            if type(raw) is not cls:
                raise HarnessError(f"sampler '{sampler}' takes {cls.__name__}, not "
                                   f"{type(raw).__name__} (another sampler's options)")
            return raw
        raw = dict(raw or {})
        known = [f.name for f in cls.fields()]
        unknown = sorted(set(raw) - set(known))
        if unknown:
            listing = ", ".join(known) if known else "none (this sampler takes no options)"
            raise HarnessError(f"sampler '{sampler}': unknown option '{unknown[0]}'"
                               f"{did_you_mean(unknown[0], known)}; its options: {listing}")
        hints = cls._hints()
        values = {}
        for f in cls.fields():
            if f.name not in raw:
                continue
            try:
                values[f.name] = _coerce(raw[f.name], hints[f.name])
            except _Mismatch:
                raise HarnessError(f"sampler '{sampler}': option {f.name}={raw[f.name]!r} must be "
                                   f"{_type_name(hints[f.name])}") from None
        opts = cls(**values)
        opts._check_fields(sampler)
        opts.check(sampler)
        return opts

    def _check_fields(self, sampler: str) -> None:
        for f in self.fields():
            value = getattr(self, f.name)
            choices, minimum = f.metadata.get("choices"), f.metadata.get("minimum")
            if choices is not None and value not in choices:
                shown = ", ".join("null" if c is None else str(c) for c in choices)
                hint = did_you_mean(value, [c for c in choices if isinstance(c, str)]) \
                    if isinstance(value, str) else ""
                raise HarnessError(f"sampler '{sampler}': {f.name}={value!r} is not one of "
                                   f"{shown}{hint}")
            if minimum is not None and isinstance(value, (int, float)) and not isinstance(value, bool):
                exclusive = f.metadata.get("exclusive")
                bad = (not math.isfinite(value) or value < minimum
                       or (exclusive and value <= minimum))
                if bad:
                    bound = f"> {minimum:g}" if exclusive else f">= {minimum:g}"
                    raise HarnessError(f"sampler '{sampler}': {f.name} must be a finite number "
                                       f"{bound}, got {value!r}")

    def check(self, sampler: str) -> None:
        """Checks across fields; subclasses extend."""

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in self.fields():
            value = getattr(self, f.name)
            if f.metadata.get("recorded_when_set") and value == _default(f):
                continue
            out[f.name] = value
        return out

    @classmethod
    def describe(cls) -> list[dict[str, Any]]:
        """One entry per option: name, type, default, help, choices (for `ls samplers`)."""
        hints = cls._hints()
        out = []
        for f in cls.fields():
            out.append({"name": f.name, "type": _type_name(hints[f.name]), "default": _default(f),
                        "help": f.metadata.get("help", ""),
                        "choices": list(f.metadata["choices"]) if f.metadata.get("choices") else None})
        return out


@dataclass(frozen=True)
class RecordedOptions(SamplerOptions):
    """The recorded options of a sampler that is not registered in this process (a plug-in not
    loaded): a run's config still reads, hashes and scores; building its sampler needs the
    plug-in (`--plugin MODULE` or HARNESS_PLUGINS)."""

    values: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)
