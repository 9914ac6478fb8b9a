"""`nas-harness bench`: speed figures measured side by side in one run, reported as ratios.

Each section is a function returning a list of rows (dicts). Sections register by decorator;
a section whose prerequisites are absent reports why instead of failing.
"""

from __future__ import annotations

from harness.perf.sections import SECTIONS, bench_section

__all__ = ["SECTIONS", "bench_section", "run_sections", "section_names"]


def section_names() -> list[str]:
    return SECTIONS.names()


def run_sections(names: list[str] | None = None, **options) -> dict[str, list[dict]]:
    known = section_names()
    return {name: SECTIONS.get(name)(**options) for name in (names or known)}
