"""`nas-harness bench`: speed figures measured side by side in one run, reported as ratios.

Each section is a function returning a list of rows (dicts). Sections register by decorator;
a section whose prerequisites are absent reports why instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable

from harness.registry import Registry

SECTIONS: Registry[Callable[..., list[dict]]] = Registry("bench section")


def bench_section(name: str):
    return SECTIONS.register(name)


def run_sections(names: list[str] | None = None, **options) -> dict[str, list[dict]]:
    from harness.bench import gt_load  # noqa: F401  (registers)

    for optional in ("train_step", "density_overhead"):
        try:
            __import__(f"harness.bench.{optional}")
        except ModuleNotFoundError as exc:
            if exc.name != f"harness.bench.{optional}":
                raise
    return {name: SECTIONS.get(name)(**options) for name in (names or SECTIONS.names())}
