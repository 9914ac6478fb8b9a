"""Paired comparisons and power: hand-worked values, scipy, and simulation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from harness.analysis.power import mde, paired_difference, power, seeds_needed


def test_paired_difference_matches_scipy():
    a = [0.16, 0.20, 0.12, 0.18, 0.15]
    b = [0.30, 0.28, 0.20, 0.35, 0.22]
    got = paired_difference(a, b)
    d = np.subtract(b, a)
    assert got["mean_difference"] == pytest.approx(d.mean())
    assert got["p_value"] == pytest.approx(scipy.stats.ttest_rel(b, a).pvalue)
    half = scipy.stats.t.ppf(0.975, 4) * d.std(ddof=1) / np.sqrt(5)
    assert got["ci_low"] == pytest.approx(d.mean() - half)
    assert got["ci_high"] == pytest.approx(d.mean() + half)
    with pytest.raises(ValueError):
        paired_difference([1, 2], [1])


def test_power_limits_and_the_normal_approximation():
    assert power(0.0, 1.0, 10) == pytest.approx(0.05, abs=1e-9)  # size at no effect
    assert power(5.0, 1.0, 10) > 0.999
    # large n: the noncentral t approaches the normal test, power = Phi(e sqrt(n)/sd - 1.96) + ...
    n, sd, e = 400, 1.0, 0.14
    z = e * np.sqrt(n) / sd
    normal = scipy.stats.norm.sf(1.959964 - z) + scipy.stats.norm.cdf(-1.959964 - z)
    assert power(e, sd, n) == pytest.approx(normal, abs=0.01)


def test_mde_has_the_stated_power_and_shrinks_with_sqrt_n():
    for n in (3, 8, 30):
        delta = mde(0.1, n)
        assert power(delta, 0.1, n) == pytest.approx(0.8, abs=1e-6)
    assert mde(0.1, 32) < mde(0.1, 8) / 1.9  # roughly halves when n is 4x


def test_mde_power_by_simulation():
    """Simulated paired differences at the MDE: the t test rejects in about 80% of designs."""
    rng = np.random.default_rng(0)
    n, sd = 8, 0.12
    delta = mde(sd, n)
    rejections = sum(scipy.stats.ttest_1samp(rng.normal(delta, sd, n), 0).pvalue < 0.05
                     for _ in range(4000))
    assert rejections / 4000 == pytest.approx(0.8, abs=0.025)


def test_seeds_needed_is_the_smallest_n_with_enough_power():
    n = seeds_needed(0.1, 0.12)
    assert power(0.1, 0.12, n) >= 0.8 > power(0.1, 0.12, n - 1)
    # the paper's NB-Macro gap 0.02 with a paired SD of 0.05-0.06: tens of seeds
    assert 45 <= seeds_needed(0.02, 0.05) <= 55
    assert seeds_needed(0.0, 0.1) is None


def test_mde_range_follows_the_sd_chi2_interval():
    import scipy.stats

    from harness.analysis.power import mde, mde_with_interval, sd_interval

    sd, n = 0.011, 3
    low, high = sd_interval(sd, n - 1)
    assert low == pytest.approx(sd * np.sqrt(2 / scipy.stats.chi2.ppf(0.975, 2)))
    assert high == pytest.approx(sd * np.sqrt(2 / scipy.stats.chi2.ppf(0.025, 2)))
    out = mde_with_interval(sd, n)
    assert out["mde_df"] == 2 and out["mde_80"] == pytest.approx(mde(sd, n))
    assert out["mde_80_low"] == pytest.approx(mde(low, n))
    assert out["mde_80_high"] == pytest.approx(mde(high, n))
    # the NB-Macro case: a point MDE of 0.037 is anywhere from 0.02 to 0.24
    assert 0.015 < out["mde_80_low"] < 0.025 and 0.2 < out["mde_80_high"] < 0.25


@pytest.mark.parametrize("diff, effect, start", [
    ({"n_pairs": 1, "p_value": None}, None, "no test: fewer than 2 pairs"),
    ({"n_pairs": 8, "p_value": 0.01, "ci_low": 0.02, "ci_high": 0.1}, None,
     "result: a difference (p = 0.01"),
    # p 0.08 is not a detection, but the interval excludes the named effect -0.07
    ({"n_pairs": 3, "p_value": 0.08, "ci_low": -0.039, "ci_high": 0.005}, -0.07,
     "result: the interval excludes the paper's gap (-0.07); no difference detected"),
    ({"n_pairs": 3, "p_value": 0.08, "ci_low": -0.039, "ci_high": 0.005, "mde_80": 0.029,
      "mde_80_low": 0.015, "mde_80_high": 0.18, "mde_df": 2}, -0.02,
     "no result: p = 0.08; MDE 0.029 [0.015, 0.180] (df 2)"),
])
def test_a_comparison_is_a_result_only_at_p_below_alpha_or_excluding_a_named_effect(
        diff, effect, start):
    from harness.analysis.power import comparison_verdict

    assert comparison_verdict(diff, effect, "the paper's gap").startswith(start)
