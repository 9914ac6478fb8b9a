"""Did the sampler do what its name says? Figures of a sampling distribution and tests of the
draws a run actually made.

distribution_summary  max/min probability, effective number of architectures 1 / sum P^2 (also as
                      a fraction of N) and KL(P || uniform) in nats, for a distribution over N
                      codes given per group (a group of `size` codes that share one probability)
chisquare_test        Pearson chi-squared of observed counts against expected counts. Where some
                      expected count is below 5 (more architectures than draws, e.g.
                      NAS-Bench-Macro), items are pooled into bins of about equal expected count,
                      ordered by `order_by` (the designed probability, so that the bins separate
                      where a tilt would show); the result says which test ran
marginal_test         per-position choice counts against the uniform marginals, the chi-squared
                      statistics summed over positions (independent under uniform sampling of a
                      product space), for spaces with more architectures than draws

A run "tests debiasing" only if its draws can be told from uniform sampling: p < ALPHA.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.stats

ALPHA = 0.05
MIN_EXPECTED = 5.0
MAX_BINS = 10


def distribution_summary(code_probability: Sequence[float], sizes: Sequence[float] | None = None
                         ) -> dict:
    """Figures of a distribution over N = sum(sizes) codes; code_probability[i] is the probability
    of each single code of group i (all groups of size 1 when sizes is None)."""
    p = np.asarray(code_probability, dtype=np.float64).reshape(-1)
    w = np.ones_like(p) if sizes is None else np.asarray(sizes, dtype=np.float64).reshape(-1)
    if p.shape != w.shape or p.size == 0:
        raise ValueError("code_probability and sizes must be non-empty and of equal length")
    n_codes = float(w.sum())
    total = float((w * p).sum())
    if not np.isclose(total, 1.0, rtol=0, atol=1e-6):
        raise ValueError(f"probabilities sum to {total}, not 1")
    p = p / total
    positive = p > 0
    kl = float((w[positive] * p[positive] * np.log(p[positive] * n_codes)).sum())
    effective = 1.0 / float((w * p * p).sum())
    p_min = float(p.min())
    return {
        "n_codes": int(round(n_codes)),
        "p_max": float(p.max()),
        "p_min": p_min,
        "p_max_over_min": float(p.max() / p_min) if p_min > 0 else None,
        "effective_n": effective,
        "effective_fraction": effective / n_codes,
        "kl_from_uniform_nats": max(kl, 0.0),
    }


def _bins(expected: np.ndarray, order_by: np.ndarray | None) -> np.ndarray:
    """Bin index per item: consecutive items (in `order_by` order) pooled until a bin expects
    max(total / MAX_BINS, MIN_EXPECTED) draws; a short last bin joins the one before. An item
    with a large expected count forms a bin of its own."""
    total = float(expected.sum())
    target = max(total / MAX_BINS, MIN_EXPECTED)
    key = np.arange(len(expected)) if order_by is None else np.asarray(order_by, dtype=np.float64)
    order = np.lexsort((np.arange(len(expected)), key))
    labels = np.empty(len(expected), dtype=np.int64)
    current, filled, last_start = 0, 0.0, 0
    for rank, i in enumerate(order):
        if filled >= target:
            current, filled, last_start = current + 1, 0.0, rank
        labels[i] = current
        filled += expected[i]
    if filled < MIN_EXPECTED and current > 0:
        labels[order[last_start:]] = current - 1
    return labels


def chisquare_test(observed: Sequence[float], expected: Sequence[float],
                   order_by: Sequence[float] | None = None, order_name: str = "index") -> dict:
    """Pearson chi-squared of `observed` against `expected` (rescaled to the observed total).

    Items are tested one by one when every expected count is at least 5; otherwise they are
    pooled into bins ordered by `order_by` (named `order_name` in the result)."""
    obs = np.asarray(observed, dtype=np.float64).reshape(-1)
    exp = np.asarray(expected, dtype=np.float64).reshape(-1)
    n = float(obs.sum())
    if obs.shape != exp.shape:
        raise ValueError("observed and expected must have the same length")
    if n == 0:
        return {"test": "none", "reason": "no draws", "n_draws": 0, "statistic": None, "df": None,
                "p_value": None}
    keep = exp > 0
    if np.any(obs[~keep] > 0):  # a draw the design says is impossible
        return {"test": "per item", "n_draws": int(n), "statistic": float("inf"),
                "df": int(keep.sum()), "p_value": 0.0,
                "reason": "draws of items with zero expected probability"}
    obs, exp = obs[keep], exp[keep]
    if order_by is not None:
        order_by = np.asarray(order_by, dtype=np.float64).reshape(-1)[keep]
    exp = exp * n / exp.sum()
    if exp.min() >= MIN_EXPECTED:
        test, o, e = "per item", obs, exp
    else:
        labels = _bins(exp, order_by)
        o = np.bincount(labels, weights=obs)
        e = np.bincount(labels, weights=exp)
        test = f"{len(e)} bins of about equal expected count, by {order_name}"
    if len(e) < 2:
        return {"test": test, "n_draws": int(n), "statistic": None, "df": 0, "p_value": None,
                "reason": "fewer than two cells to compare"}
    statistic, p_value = scipy.stats.chisquare(o, e)
    return {"test": test, "n_draws": int(n), "n_cells": int(len(e)), "statistic": float(statistic),
            "df": int(len(e) - 1), "p_value": float(p_value)}


def marginal_test(choice_counts: Sequence[Sequence[float]],
                  expected: Sequence[Sequence[float]] | None = None) -> dict:
    """Chi-squared of each position's choice counts against uniform marginals (or `expected`
    counts of the same shape, e.g. a sampler's own design), summed over positions (independent
    when positions are drawn independently)."""
    statistic, df, n = 0.0, 0, None
    for index, counts in enumerate(choice_counts):
        c = np.asarray(counts, dtype=np.float64)
        if n is None:
            n = float(c.sum())
        if c.sum() == 0 or len(c) < 2:
            continue
        if expected is None:
            s, _ = scipy.stats.chisquare(c)
        else:
            e = np.asarray(expected[index], dtype=np.float64)
            e = e * c.sum() / e.sum()  # rounding of the accumulated design
            s, _ = scipy.stats.chisquare(c, e)
        statistic += float(s)
        df += len(c) - 1
    if not n or df == 0:
        return {"test": "none", "reason": "no draws", "n_draws": int(n or 0), "statistic": None,
                "df": None, "p_value": None}
    return {"test": "per-position choice marginals, chi-squared summed over positions",
            "n_draws": int(n), "statistic": statistic, "df": df,
            "p_value": float(scipy.stats.chi2.sf(statistic, df))}


ACCEPTANCE_TEST = "accepted vs rejected proposals per prototype"


def contingency_test(accepted: Sequence[float], rejected: Sequence[float]) -> dict:
    """Whether acceptance depends on the group: chi-squared of the 2 x K table of accepted and
    rejected proposals per group (a sampler that accepts everything cannot be told apart)."""
    a = np.asarray(accepted, dtype=np.float64)
    r = np.asarray(rejected, dtype=np.float64)
    keep = (a + r) > 0
    a, r = a[keep], r[keep]
    n = int(a.sum())
    if len(a) < 2 or r.sum() == 0 or a.sum() == 0:
        return {"test": ACCEPTANCE_TEST, "n_draws": n,
                "statistic": 0.0 if len(a) >= 2 else None, "df": int(max(len(a) - 1, 0)),
                "p_value": 1.0 if len(a) >= 2 else None,
                "reason": "every proposal was accepted" if r.sum() == 0 else "too few groups"}
    statistic, p_value, df, _ = scipy.stats.chi2_contingency(np.stack([a, r]), correction=False)
    return {"test": ACCEPTANCE_TEST, "n_draws": n,
            "statistic": float(statistic), "df": int(df), "p_value": float(p_value)}


def verdict(test: dict) -> tuple[bool, str]:
    """(whether the draws can be told from uniform sampling, a short sentence)."""
    p = test.get("p_value")
    if p is None:
        return False, f"does not test debiasing: {test.get('reason', 'no test')}"
    if p >= ALPHA:
        return False, (f"does not test debiasing: draws indistinguishable from uniform "
                       f"(chi-squared p = {p:.3g})")
    return True, f"draws differ from uniform (chi-squared p = {p:.3g})"


def variance_explained_by_pattern(values: Sequence[float], patterns: Sequence[tuple],
                                  weights: Sequence[float] | None = None) -> float | None:
    """R^2 of a one-way ANOVA: the share of the (weighted) variance of `values` explained by the
    group means of `patterns` (e.g. the ops at the first three positions). 1.0 means the values
    are a function of the pattern alone; None when the values do not vary."""
    v = np.asarray(values, dtype=np.float64)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=np.float64)
    mean = float((w * v).sum() / w.sum())
    total = float((w * (v - mean) ** 2).sum())
    if total <= 0:
        return None
    groups: dict[tuple, list[int]] = {}
    for i, pattern in enumerate(patterns):
        groups.setdefault(tuple(pattern), []).append(i)
    within = 0.0
    for members in groups.values():
        idx = np.asarray(members)
        gm = float((w[idx] * v[idx]).sum() / w[idx].sum())
        within += float((w[idx] * (v[idx] - gm) ** 2).sum())
    return 1.0 - within / total


def summarize(audit: dict | None) -> dict | None:
    """The few audit figures a report row carries: whether the draws test debiasing, the KL and
    effective number of the distribution they came from, and the test against uniform."""
    if not audit:
        return None
    dist = audit.get("time_averaged_distribution") or audit.get("distribution") or {}
    tests = audit.get("tests") or {}
    test = tests.get("vs_uniform") or {}
    tilted = audit.get("tests_debiasing")
    if test.get("test") == ACCEPTANCE_TEST:
        # Recorded before the online sampler counted its post-warm-up draws: its verdict came
        # from the acceptance test. The realised draws decide, as for every sampler: all of
        # them (warm-up included, which only dilutes a tilt) are what was recorded.
        test = dict(tests.get("all_draws_vs_uniform") or {})
        test["test"] = f"{test.get('test', 'none')}, all draws (warm-up included)"
        tilted = None
    if tilted is None:
        tilted, text = verdict(test)
    else:
        text = audit.get("verdict") or verdict(test)[1]
    return {"sampler": audit.get("sampler"), "tests_debiasing": bool(tilted), "verdict": text,
            "kl_from_uniform_nats": dist.get("kl_from_uniform_nats"),
            "effective_fraction": dist.get("effective_fraction"),
            "p_max_over_min": dist.get("p_max_over_min"),
            "p_value_vs_uniform": test.get("p_value"), "test": test.get("test"),
            "draws_tested": test.get("n_draws"),
            "alpha_reliability": audit.get("alpha_reliability")}
