"""Intervals over seeds: the t interval of a mean over runs, clipped to the range a metric can
take (tables and `plan` report every mean with one)."""

from __future__ import annotations

import numpy as np
import scipy.stats


def metric_bounds(metric: str) -> tuple[float, float]:
    """The range a metric can take: intervals are clipped to it."""
    if metric.startswith(("p_at_top", "br_at", "wr_at")):
        return 0.0, 1.0
    return -1.0, 1.0


def seed_interval(values: list[float], boot: tuple | None = None,
                  bounds: tuple[float, float] = (-np.inf, np.inf)) -> tuple[float, float, float, float]:
    """(mean, std, low, high): t interval of the mean over seeds (clipped to `bounds`), or the
    bootstrap interval of one run."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if len(arr) == 0:
        return (np.nan,) * 4
    mean = float(arr.mean())
    if len(arr) == 1:
        low, high = boot if boot else (np.nan, np.nan)
        return mean, np.nan, float(low), float(high)
    std = float(arr.std(ddof=1))
    half = float(scipy.stats.t.ppf(0.975, len(arr) - 1) * std / np.sqrt(len(arr)))
    return mean, std, max(mean - half, bounds[0]), min(mean + half, bounds[1])
