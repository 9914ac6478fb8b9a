"""Variance components of a balanced two-level nested design, with confidence intervals.

y[i, j, k] = mu + A_i + B_ij + E_ijk, i < a (seeds), j < b (perturbations of a seed), k < c
(disjoint image sets of one checkpoint), all effects independent normal with variances
sigma2_a (seed), sigma2_b (trajectory) and sigma2_e (evaluation).

Mean squares (expected values): MS_E = sigma2_e; MS_B = sigma2_e + c sigma2_b;
MS_A = sigma2_e + c sigma2_b + b c sigma2_a. The ANOVA estimators are differences of mean squares
(truncated at 0). Their intervals are the modified large-sample (MLS) intervals for a difference
of mean squares (Ting, Burdick, Graybill, Jeyaratnam and Lu 1990; Burdick and Graybill 1992,
section 3.3), and the Graybill-Wang interval for a positive sum. sigma2_e alone has the exact
chi-squared interval. These are the intervals of the variance-component literature; the tests
check their coverage by simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats


@dataclass(frozen=True)
class MeanSquare:
    value: float
    df: int


@dataclass(frozen=True)
class Component:
    """A variance (not an SD) with its 95% interval and the degrees of freedom behind it."""

    name: str
    estimate: float
    low: float
    high: float
    df: float

    def sd(self) -> tuple[float, float, float]:
        """(estimate, low, high) on the SD scale."""
        return tuple(math.sqrt(max(v, 0.0)) for v in (self.estimate, self.low, self.high))

    def to_dict(self) -> dict:
        sd, sd_low, sd_high = self.sd()
        return {"variance": self.estimate, "variance_low": self.low, "variance_high": self.high,
                "sd": sd, "sd_low": sd_low, "sd_high": sd_high, "df": self.df}


def _g(df: float, alpha: float) -> float:
    return 1.0 - df / scipy.stats.chi2.ppf(1 - alpha / 2, df)


def _h(df: float, alpha: float) -> float:
    return df / scipy.stats.chi2.ppf(alpha / 2, df) - 1.0


def chi2_interval(ms: MeanSquare, alpha: float = 0.05) -> tuple[float, float]:
    """Exact interval for the expected value of a mean square with `df` degrees of freedom."""
    if ms.df < 1:
        return float("nan"), float("nan")
    return (ms.df * ms.value / scipy.stats.chi2.ppf(1 - alpha / 2, ms.df),
            ms.df * ms.value / scipy.stats.chi2.ppf(alpha / 2, ms.df))


def difference_interval(c1: float, ms1: MeanSquare, c2: float, ms2: MeanSquare,
                        alpha: float = 0.05) -> tuple[float, float, float]:
    """(estimate, low, high) of theta = c1 E[MS1] - c2 E[MS2] (c1, c2 >= 0): the MLS interval,
    truncated at 0 (a variance)."""
    s1, s2, n1, n2 = ms1.value, ms2.value, ms1.df, ms2.df
    theta = c1 * s1 - c2 * s2
    if n1 < 1 or n2 < 1:
        return max(theta, 0.0), float("nan"), float("nan")
    g1, h1, g2, h2 = _g(n1, alpha), _h(n1, alpha), _g(n2, alpha), _h(n2, alpha)
    f_hi = scipy.stats.f.ppf(1 - alpha / 2, n1, n2)
    f_lo = scipy.stats.f.ppf(alpha / 2, n1, n2)
    g12 = ((f_hi - 1) ** 2 - g1 ** 2 * f_hi ** 2 - h2 ** 2) / f_hi
    h12 = ((1 - f_lo) ** 2 - h1 ** 2 * f_lo ** 2 - g2 ** 2) / f_lo
    v_low = (g1 * c1 * s1) ** 2 + (h2 * c2 * s2) ** 2 + g12 * c1 * c2 * s1 * s2
    v_high = (h1 * c1 * s1) ** 2 + (g2 * c2 * s2) ** 2 + h12 * c1 * c2 * s1 * s2
    low = theta - math.sqrt(max(v_low, 0.0))
    high = theta + math.sqrt(max(v_high, 0.0))
    return max(theta, 0.0), max(low, 0.0), max(high, 0.0)


def sum_interval(terms: list[tuple[float, MeanSquare]], alpha: float = 0.05
                 ) -> tuple[float, float, float]:
    """(estimate, low, high) of sum c_i E[MS_i] (c_i >= 0): the Graybill-Wang interval."""
    theta = sum(c * ms.value for c, ms in terms)
    live = [(c, ms) for c, ms in terms if c > 0 and ms.df >= 1]
    low = theta - math.sqrt(sum((_g(ms.df, alpha) * c * ms.value) ** 2 for c, ms in live))
    high = theta + math.sqrt(sum((_h(ms.df, alpha) * c * ms.value) ** 2 for c, ms in live))
    return theta, max(low, 0.0), high


def satterthwaite_df(terms: list[tuple[float, MeanSquare]]) -> float:
    """Approximate degrees of freedom of a linear combination of mean squares."""
    num = sum(c * ms.value for c, ms in terms) ** 2
    den = sum((c * ms.value) ** 2 / ms.df for c, ms in terms if ms.df >= 1)
    return float(num / den) if den > 0 else float("nan")


def mean_squares(y: np.ndarray) -> dict[str, MeanSquare]:
    """MS_A, MS_B and MS_E of a balanced nested array y[a, b, c] (NaN-free)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 3 or np.isnan(y).any():
        raise ValueError("need a complete array y[seed, perturbation, image set]")
    a, b, c = y.shape
    cell = y.mean(axis=2)  # per checkpoint
    group = cell.mean(axis=1)  # per seed
    grand = group.mean()
    ms_e = MeanSquare(float(((y - cell[:, :, None]) ** 2).sum() / (a * b * (c - 1))) if c > 1
                      else float("nan"), a * b * (c - 1))
    ms_b = MeanSquare(float(c * ((cell - group[:, None]) ** 2).sum() / (a * (b - 1))) if b > 1
                      else float("nan"), a * (b - 1))
    ms_a = MeanSquare(float(b * c * ((group - grand) ** 2).sum() / (a - 1)) if a > 1
                      else float("nan"), a - 1)
    return {"seed": ms_a, "trajectory": ms_b, "evaluation": ms_e}


def nested_components(y: np.ndarray, alpha: float = 0.05) -> dict[str, Component]:
    """Seed, trajectory and evaluation variance of one run's number, their sum (the variance of
    a single run scored on one image set), and the within-seed part (trajectory + evaluation:
    half the variance of a paired difference between two runs that share a seed)."""
    a, b, c = np.asarray(y).shape
    ms = mean_squares(y)
    out: dict[str, Component] = {}
    if c > 1:
        low, high = chi2_interval(ms["evaluation"], alpha)
        out["evaluation"] = Component("evaluation", ms["evaluation"].value, low, high,
                                      ms["evaluation"].df)
        est, low, high = difference_interval(1 / c, ms["trajectory"], 1 / c, ms["evaluation"],
                                             alpha)
        out["trajectory"] = Component("trajectory", est, low, high, satterthwaite_df(
            [(1 / c, ms["trajectory"]), (-1 / c, ms["evaluation"])]))
        within = [(1 / c, ms["trajectory"]), ((c - 1) / c, ms["evaluation"])]
    else:
        within = [(1.0, ms["trajectory"])]
    est, low, high = difference_interval(1 / (b * c), ms["seed"], 1 / (b * c), ms["trajectory"],
                                         alpha)
    out["seed"] = Component("seed", est, low, high, satterthwaite_df(
        [(1 / (b * c), ms["seed"]), (-1 / (b * c), ms["trajectory"])]))
    est, low, high = sum_interval(within, alpha)
    out["within_seed"] = Component("within_seed", est, low, high, satterthwaite_df(within))
    total = [(1 / (b * c), ms["seed"]), ((b - 1) / (b * c), ms["trajectory"])]
    if c > 1:
        total.append(((c - 1) / c, ms["evaluation"]))
    est, low, high = sum_interval(total, alpha)
    out["total"] = Component("total", est, low, high, satterthwaite_df(total))
    return out
