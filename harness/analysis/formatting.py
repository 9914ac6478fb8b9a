"""How the harness writes a number into a table, a caption or a check's report: one rule."""

from __future__ import annotations

import math


def fixed(value, digits: int = 3, missing: str = "-", sign: bool = False) -> str:
    """`value` with `digits` decimals (a "+" on positives with `sign`); `missing` for None, nan
    and infinities."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
