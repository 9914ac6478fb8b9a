"""Plug-ins: code outside the harness that registers samplers, spaces, benchmarks, metrics or key
formats, with the same decorators the built-in ones use, without a fork.

Three ways in, loaded once per process before any command runs:
- an installed package that declares an entry point in the `nas_harness.plugins` group (as
  pytest finds its plug-ins): `[project.entry-points."nas_harness.plugins"] name = "module"`;
- `HARNESS_PLUGINS=module,module` for modules on the Python path that are not installed;
- `nas-harness --plugin module ...`, which also adds the module to HARNESS_PLUGINS, so the
  processes a command starts (torchrun ranks, submitit jobs) load it too.

Loading a plug-in imports its module: its decorators register what it defines.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterable

from harness.errors import HarnessError

ENTRY_POINT_GROUP = "nas_harness.plugins"
ENV = "HARNESS_PLUGINS"
_loaded: dict[str, str] = {}  # module -> where it came from


def _import(module: str, source: str) -> None:
    if module in _loaded:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise HarnessError(f"plug-in {module!r} ({source}) could not be imported: {exc}; install "
                           "it, or put it on PYTHONPATH") from None
    _loaded[module] = source


def load_plugins(modules: Iterable[str] = ()) -> dict[str, str]:
    """Import every plug-in (entry points, HARNESS_PLUGINS, then `modules`); {module: source}."""
    from importlib.metadata import entry_points

    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.value not in _loaded:
            try:
                entry.load()
            except ImportError as exc:
                raise HarnessError(f"plug-in {entry.name!r} (entry point of "
                                   f"{entry.dist.name if entry.dist else 'a package'}) could not "
                                   f"be imported: {exc}") from None
            _loaded[entry.value] = f"entry point {entry.name}"
    named = [m.strip() for m in os.environ.get(ENV, "").split(",") if m.strip()]
    for module in named:
        _import(module, ENV)
    extra = [m for m in modules if m not in named]
    for module in extra:
        _import(module, "--plugin")
    if extra:  # processes this one starts load them too
        os.environ[ENV] = ",".join([*named, *extra])
    return dict(_loaded)


def loaded_plugins() -> dict[str, str]:
    return dict(_loaded)
