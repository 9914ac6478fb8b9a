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


def sd_interval(sd: float, df: int, alpha: float = ALPHA) -> tuple[float, float]:
    """The chi-squared interval of a standard deviation estimated with `df` degrees of freedom."""
    if df < 1 or not sd > 0:
        return float("nan"), float("nan")
    return (sd * math.sqrt(df / scipy.stats.chi2.ppf(1 - alpha / 2, df)),
            sd * math.sqrt(df / scipy.stats.chi2.ppf(alpha / 2, df)))


def mde_with_interval(sd: float, n: int, target: float = POWER, alpha: float = ALPHA) -> dict:
    """The MDE of a paired design with n pairs, its degrees of freedom (n - 1), and the range
    that follows from the SD's chi-squared interval: an SD from 2 pairs is one degree of freedom,
    and its MDE can be several times smaller or larger."""
    df = n - 1
    low_sd, high_sd = sd_interval(sd, df, alpha) if sd and df >= 1 else (float("nan"),) * 2
    return {"mde_80": mde(sd, n, target, alpha) if sd else float("nan"),
            "mde_80_low": mde(low_sd, n, target, alpha) if low_sd == low_sd else float("nan"),
            "mde_80_high": mde(high_sd, n, target, alpha) if high_sd == high_sd else float("nan"),
            "mde_df": df}


def comparison_verdict(diff: dict, effect: float | None = None,
                       effect_name: str = "the effect of interest", digits: int = 3) -> str:
    """A comparison is a result only if p < alpha, or if its interval excludes a named effect of
    interest; the wording says which. Anything else is no result, with what the design could
    have detected."""
    n, p = diff.get("n_pairs", 0), diff.get("p_value")
    if n < 2 or p is None:
        return "no test: fewer than 2 pairs"
    if p < ALPHA:
        return f"result: a difference (p = {p:.2g} < {ALPHA:g})"
    low, high = diff.get("ci_low"), diff.get("ci_high")
    if effect is not None and low is not None and not low <= effect <= high:
        return (f"result: the interval excludes {effect_name} ({effect:+.{digits}g}); no "
                f"difference detected (p = {p:.2g})")
    mde_text = ""
    if diff.get("mde_80") == diff.get("mde_80"):  # not NaN
        mde_text = (f"; MDE {diff['mde_80']:.{digits}f} [{diff['mde_80_low']:.{digits}f}, "
                    f"{diff['mde_80_high']:.{digits}f}] (df {diff['mde_df']})")
    return f"no result: p = {p:.2g}{mde_text}"
