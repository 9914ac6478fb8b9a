"""Statistics behind `noise` and `check`: nested variance components with their intervals, the
one-sided drop test, Holm, and the detectable drop, checked against scipy, hand-worked cases and
simulated coverage."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from harness.analysis.regression import (
    check_family,
    detectable_drop,
    drop_test,
    holm,
    simulate_check,
)
from harness.analysis.variance import mean_squares, nested_components


def test_mean_squares_hand_worked():
    # 2 seeds x 2 perturbations x 2 image sets
    y = np.array([[[1.0, 3.0], [5.0, 7.0]], [[2.0, 2.0], [4.0, 8.0]]])
    ms = mean_squares(y)
    # within checkpoints: (1+1+1+1 + 0+0 + 4+4) / (2*2*1) = 12/4
    assert ms["evaluation"].value == pytest.approx(3.0) and ms["evaluation"].df == 4
    # checkpoint means 2, 6, 2, 6; seed means 4, 4: c * sum((cell - seed)^2) / (a(b-1)) = 2*16/2
    assert ms["trajectory"].value == pytest.approx(16.0) and ms["trajectory"].df == 2
    assert ms["seed"].value == pytest.approx(0.0) and ms["seed"].df == 1
    comps = nested_components(y)
    assert comps["evaluation"].estimate == pytest.approx(3.0)
    assert comps["trajectory"].estimate == pytest.approx((16 - 3) / 2)
    assert comps["seed"].estimate == 0.0  # truncated at 0
    # total: MS_A/(bc) + MS_B (b-1)/(bc) + MS_E (c-1)/c
    assert comps["total"].estimate == pytest.approx(0 / 4 + 16 / 4 + 3 / 2)
    assert comps["within_seed"].estimate == pytest.approx(16 / 2 + 3 / 2)


def test_evaluation_interval_is_the_chi2_interval():
    rng = np.random.default_rng(1)
    y = rng.normal(size=(4, 2, 3))
    ms = mean_squares(y)["evaluation"]
    comp = nested_components(y)["evaluation"]
    assert comp.low == pytest.approx(ms.df * ms.value / scipy.stats.chi2.ppf(0.975, ms.df))
    assert comp.high == pytest.approx(ms.df * ms.value / scipy.stats.chi2.ppf(0.025, ms.df))


@pytest.mark.parametrize("shape,sds", [((4, 2, 2), (0.05, 0.10, 0.04)),
                                       ((8, 2, 2), (0.10, 0.03, 0.06)),
                                       ((3, 3, 5), (0.0, 0.08, 0.05))])
def test_intervals_cover_the_true_components(shape, sds):
    """Every component's 95% interval covers the truth in 93-97.5% of simulated designs (the
    MLS intervals are approximate; a zero component is covered at least as often)."""
    rng = np.random.default_rng(7)
    a, b, c = shape
    sa, sb, se = sds
    truth = {"seed": sa ** 2, "trajectory": sb ** 2, "evaluation": se ** 2,
             "total": sa ** 2 + sb ** 2 + se ** 2, "within_seed": sb ** 2 + se ** 2}
    hits = dict.fromkeys(truth, 0)
    reps = 1500
    for _ in range(reps):
        y = (rng.normal(0, sa, (a, 1, 1)) + rng.normal(0, sb, (a, b, 1))
             + rng.normal(0, se, (a, b, c)))
        comps = nested_components(y)
        for name in truth:
            hits[name] += comps[name].low <= truth[name] <= comps[name].high
    for name, h in hits.items():
        assert 0.93 <= h / reps <= (1.0 if truth[name] == 0 else 0.975), (name, h / reps)


def test_one_image_set_gives_the_within_seed_part_directly():
    rng = np.random.default_rng(3)
    y = rng.normal(size=(5, 2, 1))
    comps = nested_components(y)
    assert "evaluation" not in comps and "trajectory" not in comps
    assert comps["within_seed"].estimate == pytest.approx(mean_squares(y)["trajectory"].value)


def test_drop_test_equals_scipy_ttest_ind():
    base, new = [0.41, 0.30, 0.52, 0.35], [0.20, 0.33, 0.28]
    ours = drop_test(base, new, higher_is_better=True)
    theirs = scipy.stats.ttest_ind(new, base, equal_var=True, alternative="less")
    assert ours["p_value"] == pytest.approx(theirs.pvalue)
    assert ours["drop"] == pytest.approx(np.mean(base) - np.mean(new))
    # lower is better: a rise is the drop
    flipped = drop_test(base, new, higher_is_better=False)
    assert flipped["p_value"] == pytest.approx(1 - theirs.pvalue)


def test_drop_test_with_one_new_seed_uses_the_baseline_spread():
    base, new = [0.3, 0.4, 0.5], [0.1]
    out = drop_test(base, new)
    s = np.std(base, ddof=1)
    t = (0.4 - 0.1) / (s * np.sqrt(1 / 3 + 1))
    assert out["df"] == 2 and out["p_value"] == pytest.approx(scipy.stats.t.sf(t, 2))


def test_holm_hand_worked():
    rejected, adjusted = holm([0.01, 0.04, 0.03, 0.005], alpha=0.05)
    # sorted 0.005 (x4 = 0.02), 0.01 (x3 = 0.03), 0.03 (x2 = 0.06: stop), 0.04
    assert rejected == [True, False, False, True]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_detectable_drop_has_80_percent_power_by_simulation():
    sd, n, m, level = 0.1, 6, 4, 0.01
    drop = detectable_drop(sd, n, m, level)
    rng = np.random.default_rng(0)
    reps = 4000
    hits = sum(drop_test(rng.normal(0, sd, n), rng.normal(-drop, sd, m))["p_value"] <= level
               for _ in range(reps))
    assert hits / reps == pytest.approx(0.80, abs=0.025)


def test_check_family_holds_family_wise_error():
    rate = simulate_check([0.3] * 10, [0.1] * 10, [5] * 10, [3] * 10, reps=2000, seed=2)
    assert rate <= 0.06
    # ... and finds a large drop of one metric
    power = simulate_check([0.3] * 10, [0.1] * 10, [5] * 10, [3] * 10,
                           drops=[0.4] + [0.0] * 9, reps=500, seed=3)
    assert power > 0.8
    assert check_family([[0.3, 0.31, 0.29]], [[0.31, 0.3, 0.32]], [True]) == [False]
