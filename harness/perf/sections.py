"""The registry of `nas-harness bench` sections: each section module of `harness.perf` registers
into it by decorator, and the registry imports them on its first lookup."""

from __future__ import annotations

from collections.abc import Callable

from harness.registry import Registry

SECTIONS: Registry[Callable[..., list[dict]]] = Registry("bench section", providers="harness.perf")


def bench_section(name: str):
    return SECTIONS.register(name)
