"""Paired comparisons of two samplers over seeds, and the power of such a design.

A design pairs seed s of arm A with seed s of arm B (same data order, same warm-up: common random
numbers), so the comparison is a one-sample t test on the per-seed differences d_s = B_s - A_s.

paired_difference  mean difference, its t interval, two-sided p-value, SD of the differences
power              probability that the two-sided paired t test at level alpha rejects when the
                   true mean difference is `effect` and the differences have SD `sd`, from the
                   noncentral t distribution (exact for normal differences)
mde                the smallest effect detected with the given power (80% by default) with n pairs
seeds_needed       the smallest number of pairs that detects `effect` with the given power
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import scipy.optimize
import scipy.stats

ALPHA = 0.05
POWER = 0.80


def paired_difference(a: Sequence[float], b: Sequence[float], alpha: float = ALPHA) -> dict:
    """Paired t statistics of b - a (equal lengths, one pair per seed)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("paired arms need one value per seed in both")
    d = y - x
    n = len(d)
    out = {"n_pairs": int(n), "mean_difference": float(d.mean()) if n else None,
           "sd_difference": None, "ci_low": None, "ci_high": None, "p_value": None}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    t = scipy.stats.t.ppf(1 - alpha / 2, n - 1)
    out.update({"sd_difference": sd, "ci_low": float(d.mean() - t * se),
                "ci_high": float(d.mean() + t * se)})
    if sd > 0:
        out["p_value"] = float(scipy.stats.ttest_1samp(d, 0.0).pvalue)
    else:
        out["p_value"] = 0.0 if d.mean() != 0 else 1.0
    return out


def power(effect: float, sd: float, n: int, alpha: float = ALPHA) -> float:
    """Power of the two-sided paired t test with n pairs (noncentral t)."""
    if n < 2 or sd <= 0:
        return float("nan")
    df = n - 1
    crit = scipy.stats.t.ppf(1 - alpha / 2, df)
    nc = abs(effect) * math.sqrt(n) / sd
    upper = float(scipy.stats.nct.sf(crit, df, nc))
    lower = float(scipy.stats.nct.cdf(-crit, df, nc))
    # scipy's noncentral t gives NaN far in the tail, where the rejection region below is empty
    return min(1.0, upper + (lower if math.isfinite(lower) else 0.0))


def mde(sd: float, n: int, target: float = POWER, alpha: float = ALPHA) -> float:
    """Minimum detectable difference: the effect whose power is `target` with n pairs."""
    if n < 2 or not sd > 0:
        return float("nan")
    high = sd * 50.0
    return float(scipy.optimize.brentq(lambda e: power(e, sd, n, alpha) - target, 0.0, high,
                                       xtol=1e-10))


def seeds_needed(effect: float, sd: float, target: float = POWER, alpha: float = ALPHA,
                 max_n: int = 100_000) -> int | None:
    """The smallest number of pairs n >= 2 with power(effect, sd, n) >= target (None beyond max_n)."""
    if not effect or not sd > 0:
        return None
    effect = abs(effect)
    # The normal approximation gives a lower bound to start from; step up to the exact n.
    z = scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(target)
    n = max(2, int(math.floor((z * sd / effect) ** 2)))
    while n <= max_n:
        if power(effect, sd, n, alpha) >= target:
            while n > 2 and power(effect, sd, n - 1, alpha) >= target:
                n -= 1
            return n
        n += 1
    return None
