"""Reliability of generated ground truth: split-half Spearman-Brown, seed Kendall, seeds needed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.benchmarks.reliability import complete_table, reliability, seeds_for, spearman_brown


def simulated(n_nets: int, n_seeds: int, between: float, within: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    truth = rng.normal(85, between, n_nets)
    x = truth[:, None] + rng.normal(0, within, (n_nets, n_seeds))
    return pd.DataFrame(x, index=[f"k{i}" for i in range(n_nets)])


def test_spearman_brown_and_seeds_for_hand_worked():
    assert spearman_brown(0.5, 2) == pytest.approx(2 / 3)
    assert spearman_brown(0.5, 0.5) == pytest.approx(1 / 3)
    assert spearman_brown(0.2, 8) == pytest.approx(1.6 / 2.4)
    # single-seed 1/3 reaches 0.8 with k: k r / (1 + (k-1) r) >= 0.8 -> k >= 8
    assert seeds_for(0.8, 1 / 3) == 8
    assert seeds_for(0.8, 0.9) == 1 and seeds_for(0.8, None) is None and seeds_for(0.8, 0) is None


@pytest.mark.parametrize("between, within, n_seeds", [(1.0, 1.0, 8), (0.5, 1.0, 8), (1.0, 0.5, 4),
                                                      (1.0, 1.0, 3), (0.7, 1.0, 5)])
def test_reliability_recovers_the_simulated_value(between, within, n_seeds):
    """Halves of k/2 seeds correlate (Pearson) at rho = sb^2 / (sb^2 + sw^2 / (k/2)); for normal
    data their Spearman is (6/pi) asin(rho/2); Spearman-Brown then gives the k-seed figure. On
    2,000 networks the estimate is within 0.03 of it (and of the Pearson reliability within 0.05)."""
    wide = simulated(2000, n_seeds, between, within, seed=1)
    got = reliability(wide)
    half = n_seeds // 2
    rho_half = between**2 / (between**2 + within**2 / half)
    rho_s = 6 / np.pi * np.arcsin(rho_half / 2)
    assert got["split_half_spearman"] == pytest.approx(rho_s, abs=0.03)
    assert got["reliability"] == pytest.approx(spearman_brown(rho_s, n_seeds / half), abs=0.03)
    pearson = between**2 / (between**2 + within**2 / n_seeds)
    assert got["reliability"] == pytest.approx(pearson, abs=0.05)
    assert got["single_seed_reliability"] == pytest.approx(spearman_brown(rho_s, 1 / half),
                                                           abs=0.04)
    assert got["within_sd"] == pytest.approx(within, rel=0.05)
    assert got["between_sd"] == pytest.approx(between, rel=0.1)
    assert got["ceiling_spearman"] == pytest.approx(np.sqrt(got["reliability"]))


def test_three_seeds_use_every_seed_pair_hand_worked():
    """With 3 seeds the halves are single seeds: the mean Spearman over the pairs (0,1), (0,2)
    and (1,2), corrected by Spearman-Brown to 3 seeds."""
    import scipy.stats

    wide = simulated(40, 3, 1.0, 1.0, seed=5)
    x = wide.to_numpy()
    pairs = [(0, 1), (0, 2), (1, 2)]
    r = np.mean([scipy.stats.spearmanr(x[:, i], x[:, j]).statistic for i, j in pairs])
    got = reliability(wide)
    assert got["n_splits"] == 3
    assert got["split_half_spearman"] == pytest.approx(r)
    assert got["reliability"] == pytest.approx(3 * r / (1 + 2 * r))
    assert got["single_seed_reliability"] == pytest.approx(r)


def test_pure_noise_has_no_reliability_and_identical_seeds_have_full():
    noise = reliability(simulated(300, 6, 0.0, 1.0, seed=2))
    assert abs(noise["reliability"]) < 0.15 and abs(noise["seed_kendall"]) < 0.05
    same = pd.DataFrame(np.repeat(np.arange(30.0)[:, None], 4, axis=1))
    exact = reliability(same)
    assert exact["reliability"] == pytest.approx(1) and exact["seed_kendall"] == pytest.approx(1)


def test_complete_table_drops_networks_missing_a_seed():
    runs = pd.DataFrame({"key": ["a", "a", "b", "c", "c"], "seed": [0, 1, 0, 0, 1],
                         "accuracy": [1.0, 2.0, 3.0, 4.0, 5.0]})
    wide = complete_table(runs)
    assert list(wide.index) == ["a", "c"] and list(wide.columns) == [0, 1]
    assert reliability(wide)["reliability"] is None  # three networks needed
