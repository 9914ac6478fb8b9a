"""The registry of `nas-harness bench` sections: each section module registers into it by
decorator; the package's `run_sections` imports them all and runs the ones asked for."""

from __future__ import annotations

from collections.abc import Callable

from harness.registry import Registry

SECTIONS: Registry[Callable[..., list[dict]]] = Registry("bench section")


def bench_section(name: str):
    return SECTIONS.register(name)
