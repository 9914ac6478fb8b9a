"""Is a rerun's metric worse than a baseline's, beyond the noise between seeds?

A baseline is a sample of per-seed values (n seeds); a rerun on another machine is a new sample
(m seeds): the seeds do not pair across machines (the same seed trains differently there), so
the test is a one-sided two-sample t test with pooled variance for a drop. Across metrics the
family-wise error is held at alpha by Holm's step-down procedure.

drop_test          one metric: the drop, its t statistic, one-sided p, degrees of freedom
holm               Holm's step-down rejections and adjusted p-values
detectable_drop    the drop a test at `level` detects with 80% power (noncentral t)
simulate_check     false-alarm rate and power of the whole check, by simulation
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.stats

ALPHA = 0.05
POWER = 0.80


def _pooled(base: np.ndarray, new: np.ndarray) -> tuple[float, int]:
    n, m = len(base), len(new)
    df = n + m - 2
    ss = (((base - base.mean()) ** 2).sum() if n > 1 else 0.0) + \
        (((new - new.mean()) ** 2).sum() if m > 1 else 0.0)
    return (float(ss / df) if df > 0 else float("nan")), df


def drop_test(base: Sequence[float], new: Sequence[float], higher_is_better: bool = True
              ) -> dict:
    """One-sided test that `new` is worse than `base` (lower when higher is better)."""
    b, x = np.asarray(base, dtype=np.float64), np.asarray(new, dtype=np.float64)
    if len(b) < 1 or len(x) < 1:
        raise ValueError("need at least one value on each side")
    drop = float(b.mean() - x.mean()) if higher_is_better else float(x.mean() - b.mean())
    var, df = _pooled(b, x)
    out = {"n_base": len(b), "n_new": len(x), "drop": drop, "sd": math.sqrt(var)
           if var == var else float("nan"), "df": df, "t": None, "p_value": None}
    if df < 1:
        return out
    se = math.sqrt(var * (1 / len(b) + 1 / len(x)))
    if se == 0:
        out["p_value"] = 0.0 if drop > 0 else 1.0
        return out
    t = drop / se
    out.update({"t": t, "p_value": float(scipy.stats.t.sf(t, df))})
    return out


def holm(p_values: Sequence[float], alpha: float = ALPHA) -> tuple[list[bool], list[float]]:
    """(rejected, Holm-adjusted p) for each p-value (None counts as never rejected)."""
    order = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    k = len(order)
    rejected = [False] * len(p_values)
    adjusted: list[float] = [float("nan")] * len(p_values)
    running, stop = 0.0, False
    for rank, (p, i) in enumerate(order):
        running = max(running, min(1.0, (k - rank) * p))
        adjusted[i] = running
        if not stop and p <= alpha / (k - rank):
            rejected[i] = True
        else:
            stop = True
    return rejected, adjusted


def detectable_drop(sd: float, n_base: int, n_new: int, level: float = ALPHA,
                    power: float = POWER) -> float:
    """The true drop that the one-sided pooled t test at `level` detects with `power`."""
    df = n_base + n_new - 2
    if df < 1 or not sd > 0:
        return float("nan")
    se = sd * math.sqrt(1 / n_base + 1 / n_new)
    crit = scipy.stats.t.ppf(1 - level, df)
    return float(scipy.optimize.brentq(
        lambda d: scipy.stats.nct.sf(crit, df, d / se) - power, 0.0, 100 * se + 100 * sd,
        xtol=1e-10))


def check_family(bases: list[Sequence[float]], news: list[Sequence[float]],
                 higher: list[bool], alpha: float = ALPHA) -> list[bool]:
    """Which metrics the check calls a regression (Holm over the family)."""
    p = [drop_test(b, x, h)["p_value"] for b, x, h in zip(bases, news, higher)]
    return holm(p, alpha)[0]


def simulate_check(means: Sequence[float], sds: Sequence[float], n_base: Sequence[int],
                   n_new: Sequence[int], drops: Sequence[float] | None = None,
                   reps: int = 2000, seed: int = 0, alpha: float = ALPHA) -> float:
    """The fraction of simulated reruns the whole check fails: each metric's baseline and rerun
    drawn independently from a normal with its measured mean and SD, the rerun lowered by
    `drops` (0: no change, the false-alarm rate; else its power against that regression)."""
    rng = np.random.default_rng(seed)
    k = len(means)
    drops = [0.0] * k if drops is None else list(drops)
    fails = 0
    for _ in range(reps):
        bases = [rng.normal(means[i], sds[i], n_base[i]) for i in range(k)]
        news = [rng.normal(means[i] - drops[i], sds[i], n_new[i]) for i in range(k)]
        fails += any(check_family(bases, news, [True] * k, alpha))
    return fails / reps
