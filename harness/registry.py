"""Name -> object registries, one style for all: entries register by decorator (or `add`) where
they are defined, and a registry imports the modules that define its built-in entries the first
time it is asked (lazy registration, as lm-evaluation-harness does), so no hand-kept import list
decides what exists. Plug-ins register into the same registries (harness.plugins)."""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from harness.errors import UnknownNameError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (factories, classes or values); `kind` names what it holds in errors.

    `providers`: packages (every module in them) or modules whose import registers the built-in
    entries; imported on the first lookup, in order. A lookup made while they are being imported
    (one built-in reading another) imports the rest first when its name is not there yet."""

    def __init__(self, kind: str, providers: str | tuple[str, ...] = ()):
        self.kind = kind
        self._items: dict[str, T] = {}
        self._providers = (providers,) if isinstance(providers, str) else tuple(providers)
        self._pending: list[str] | None = None  # modules still to import; None: not started

    # ------------------------------------------------------------------ lazy registration

    def _start(self) -> None:
        """List the provider modules (a package's own modules found without importing it)."""
        if self._pending is not None:
            return
        pending: list[str] = []
        for name in self._providers:
            pending.append(name)
            spec = importlib.util.find_spec(name)
            if spec is not None and spec.submodule_search_locations is not None:
                pending += [f"{name}.{m.name}"
                            for m in pkgutil.iter_modules(spec.submodule_search_locations)
                            if not m.name.startswith("_")]
        self._pending = pending

    def _load(self, until: str | None = None) -> None:
        """Import pending providers: all of them, or until `until` is registered. A provider that
        fails to import takes back what it registered and stays pending: every later lookup
        raises the same error instead of answering without it."""
        self._start()
        while self._pending and (until is None or until not in self._items):
            module = self._pending[0]
            before = set(self._items)
            try:
                importlib.import_module(module)
            except BaseException:
                for name in set(self._items) - before:
                    del self._items[name]
                raise
            if module in self._pending:  # a nested lookup may have taken it already
                self._pending.remove(module)

    # ------------------------------------------------------------------ registering

    def register(self, name: str) -> Callable[[T], T]:
        # Registering imports nothing (a provider registers while it is being imported); a
        # plug-in that takes a built-in's name is refused when the built-in's module loads.
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def add(self, name: str, obj: T) -> T:
        return self.register(name)(obj)

    @contextmanager
    def swapped(self, name: str, obj: T) -> Iterator[T]:
        """Within the block, `name` holds `obj` (a test's stand-in); the old entry comes back."""
        self._load()
        missing = object()
        previous = self._items.get(name, missing)
        self._items[name] = obj
        try:
            yield obj
        finally:
            if previous is missing:
                del self._items[name]
            else:
                self._items[name] = previous

    # ------------------------------------------------------------------ looking up

    def get(self, name: str) -> T:
        if name not in self._items:
            self._load(until=name)
        try:
            return self._items[name]
        except KeyError:
            self._load()
            known = ", ".join(sorted(self._items))
            raise UnknownNameError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; known: {known}"
            ) from None

    def names(self, sort: bool = True) -> list[str]:
        """Registered names, sorted, or in registration order (`sort=False`)."""
        self._load()
        return sorted(self._items) if sort else list(self._items)

    def __contains__(self, name: object) -> bool:
        if isinstance(name, str) and name not in self._items:
            self._load(until=name)
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._load()
        return len(self._items)
