"""How much of a generated ground truth is signal: reliability from its per-seed accuracies.

Input: a table [architecture x seed] of stand-alone accuracies (one row per network, NaN where a
seed is missing; only networks with every seed count).

split_half     Spearman correlation between the per-network means of two disjoint halves of the
               seeds, Spearman-Brown corrected to the full number of seeds: r_k = 2 r / (1 + r).
               Averaged over every balanced split (every seed pair with 3 seeds; `n_splits`
               seeded random ones when there are many), so the figure does not depend on which
               seeds landed together.
seed_kendall   the mean Kendall tau over pairs of single seeds (what two independent trainings
               of the table agree on).
ceiling        the highest Spearman correlation a perfect predictor of the true ranking can
               reach against this table, about sqrt(reliability) (the attenuation formula).

Also: variance components from a one-way ANOVA (between-network SD of the true means, within
SD = seed noise), and the number of seeds needed for a target reliability by Spearman-Brown
from the single-seed reliability.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import scipy.stats


def complete_table(runs: pd.DataFrame) -> pd.DataFrame:
    """[key x seed] accuracies from runs rows (key, seed, accuracy); only complete networks."""
    wide = runs.pivot_table(index="key", columns="seed", values="accuracy", aggfunc="mean")
    return wide.dropna()


def spearman_brown(r: float, factor: float) -> float:
    """Reliability of a mean of `factor` times as many seeds, from reliability r."""
    if not math.isfinite(r):
        return float("nan")
    return factor * r / (1.0 + (factor - 1.0) * r)


def balanced_splits(n: int) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Every unordered pair of disjoint halves of floor(n / 2) seeds each: with an odd number
    of seeds, every seed pair (3 seeds: {0}-{1}, {0}-{2}, {1}-{2}), not only those with seed 0."""
    half = n // 2
    out, seen = [], set()
    for a in itertools.combinations(range(n), half):
        rest = [i for i in range(n) if i not in a]
        for b in itertools.combinations(rest, half):
            key = frozenset([a, b])
            if key not in seen:
                seen.add(key)
                out.append((a, b))
    return out


def _splits(n: int, n_splits: int, rng: np.random.Generator) -> list[tuple[list[int], list[int]]]:
    """Every balanced split when there are at most 4 x n_splits of them, else n_splits seeded
    random ones."""
    half = n // 2
    if math.comb(n, half) * math.comb(n - half, half) <= 8 * n_splits:
        return [(list(a), list(b)) for a, b in balanced_splits(n)]
    out = []
    for _ in range(n_splits):
        perm = rng.permutation(n)
        out.append((sorted(perm[:half].tolist()), sorted(perm[half:2 * half].tolist())))
    return out


def reliability(wide: pd.DataFrame, n_splits: int = 50, seed: int = 0) -> dict:
    """Split-half reliability, seed-to-seed Kendall and variance components of a [key x seed]
    table (see the module docstring). Values are None where too few seeds or networks."""
    n_nets, n_seeds = wide.shape
    out: dict = {"n_networks": int(n_nets), "n_seeds": int(n_seeds), "split_half_spearman": None,
                 "reliability": None, "single_seed_reliability": None, "seed_kendall": None,
                 "ceiling_spearman": None, "between_sd": None, "within_sd": None,
                 "n_splits": 0}
    if n_nets < 3 or n_seeds < 2:
        return out
    x = wide.to_numpy(dtype=np.float64)
    taus = [scipy.stats.kendalltau(x[:, i], x[:, j]).statistic
            for i, j in itertools.combinations(range(n_seeds), 2)]
    out["seed_kendall"] = float(np.nanmean(taus))
    within_var = float(np.mean(x.var(axis=1, ddof=1)))
    means_var = float(x.mean(axis=1).var(ddof=1))
    between_var = max(means_var - within_var / n_seeds, 0.0)
    out["within_sd"], out["between_sd"] = math.sqrt(within_var), math.sqrt(between_var)
    rng = np.random.default_rng([seed, 0x5B])
    splits = _splits(n_seeds, n_splits, rng)
    rs = [scipy.stats.spearmanr(x[:, a].mean(1), x[:, b].mean(1)).statistic for a, b in splits]
    r_half = float(np.nanmean(rs))
    half = n_seeds // 2
    # The halves hold `half` seeds each; correct to the full table's n_seeds.
    full = spearman_brown(r_half, n_seeds / half)
    single = spearman_brown(r_half, 1.0 / half)
    out.update({"split_half_spearman": r_half, "reliability": full,
                "single_seed_reliability": single,
                "ceiling_spearman": math.sqrt(max(full, 0.0)), "n_splits": len(splits)})
    return out


def seeds_for(target: float, single_seed_reliability: float | None) -> int | None:
    """Seeds whose mean reaches reliability `target` (Spearman-Brown), or None if unknown."""
    r = single_seed_reliability
    if r is None or not math.isfinite(r) or r <= 0:
        return None
    if r >= target:
        return 1
    return int(math.ceil(target * (1 - r) / (r * (1 - target)) - 1e-9))
