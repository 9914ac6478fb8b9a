"""Tests for harness.analysis.metrics: ranking metrics, top-K families, names, bootstrap, score()."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from harness.analysis.metrics import (
    DEFAULT_METRICS,
    METRICS,
    TOPK_FAMILIES,
    Metric,
    MetricResult,
    bootstrap_ci,
    get_metric,
    list_metrics,
    resolve_k,
    score,
    top_k_metric,
)
from harness.errors import HarnessError, UnknownNameError

FIXED = ("kendall_tau", "spearman", "pearson", "weighted_tau")

SCIPY = {
    "kendall_tau": lambda x, y: stats.kendalltau(x, y, variant="b").statistic,
    "spearman": lambda x, y: stats.spearmanr(x, y).statistic,
    "pearson": lambda x, y: stats.pearsonr(x, y).statistic,
    "weighted_tau": lambda x, y: stats.weightedtau(x, y).statistic,
}


def correlated(n: int, rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    y = rho * x + math.sqrt(1 - rho**2) * rng.normal(size=n)
    return x, y


def tau_b_by_hand(x, y) -> float:
    """O(N^2) Kendall tau-b: (C - D) / sqrt((n0 - n1)(n0 - n2)), n1/n2 = pairs tied in x/y."""
    concordant = discordant = tied_x = tied_y = 0
    pairs = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        pairs += 1
        dx = np.sign(x[i] - x[j])
        dy = np.sign(y[i] - y[j])
        tied_x += dx == 0
        tied_y += dy == 0
        if dx * dy > 0:
            concordant += 1
        elif dx * dy < 0:
            discordant += 1
    return (concordant - discordant) / math.sqrt((pairs - tied_x) * (pairs - tied_y))


# --------------------------------------------------------------------------------------------------
# Fixed metrics against scipy and by hand
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", FIXED)
def test_fixed_metric_equals_scipy_on_random_data(name):
    x, y = correlated(200, 0.5, seed=1)
    assert get_metric(name)(x, y) == pytest.approx(SCIPY[name](x, y), abs=1e-12)


@pytest.mark.parametrize("name", FIXED)
def test_fixed_metric_equals_scipy_with_many_ties(name):
    x, y = correlated(300, 0.6, seed=2)
    x, y = np.round(x * 2), np.round(y * 2)  # about a dozen distinct values each
    assert len(np.unique(x)) < 20 and len(np.unique(y)) < 20
    assert get_metric(name)(x, y) == pytest.approx(SCIPY[name](x, y), abs=1e-12)


@pytest.mark.parametrize(
    "x, y",
    [
        ([1, 2, 2, 3, 4, 4, 4], [1, 1, 2, 3, 3, 5, 4]),
        ([3, 1, 2, 2, 5], [2, 2, 2, 1, 3]),
        ([0, 0, 1, 1], [1, 0, 1, 0]),
        ([5, 4, 3, 2, 1, 1], [1, 2, 3, 4, 5, 5]),
    ],
)
def test_kendall_tau_equals_hand_written_tau_b_on_ties(x, y):
    x, y = np.array(x, float), np.array(y, float)
    assert get_metric("kendall_tau")(x, y) == pytest.approx(tau_b_by_hand(x, y), abs=1e-12)


def test_constant_input_gives_nan_without_warnings():
    x = np.arange(10.0)
    c = np.ones(10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in FIXED:
            assert math.isnan(get_metric(name)(x, c)), name
            assert math.isnan(get_metric(name)(c, x)), name
        # a top-K subset whose scores are all tied: KD undefined
        assert math.isnan(get_metric("kd_at_top_3")(np.array([1, 1, 1, 0, 0.0]), x[:5]))


# --------------------------------------------------------------------------------------------------
# Top-K families by hand
# --------------------------------------------------------------------------------------------------

# Hand-worked example, N = 6; x is already in descending order so the predicted order is 0..5.
#   index:      0     1     2     3     4     5
#   x:        0.9   0.8   0.7   0.6   0.5   0.4
#   y:         70    90    60    80    50    85
#   true rank:  4     1     5     3     6     2      (rank 1 = highest y)
X6 = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
Y6 = np.array([70, 90, 60, 80, 50, 85], dtype=float)


def test_top_k_hand_worked_k3():
    # K = 3: predicted top-3 = {0, 1, 2}; true top-3 = {1, 5, 3} (y >= 80).
    #   P@top-3  = |{1}| / 3 = 1/3
    #   BR@3     = min(4, 1, 5) / 6 = 1/6;  WR@3 = max(4, 1, 5) / 6 = 5/6
    #   KD@top-3 over (x, y) = (0.9,70) (0.8,90) (0.7,60):
    #     pair (0,1): x down, y up   -> discordant
    #     pair (0,2): x down, y down -> concordant
    #     pair (1,2): x down, y down -> concordant          tau = (2 - 1) / 3 = 1/3
    assert get_metric("p_at_top_3")(X6, Y6) == pytest.approx(1 / 3)
    assert get_metric("br_at_3")(X6, Y6) == pytest.approx(1 / 6)
    assert get_metric("wr_at_3")(X6, Y6) == pytest.approx(5 / 6)
    assert get_metric("kd_at_top_3")(X6, Y6) == pytest.approx(1 / 3)
    # 50% of 6 = 3: the fraction form gives the same numbers.
    for fam in ("p_at_top", "br_at", "wr_at", "kd_at_top"):
        assert get_metric(f"{fam}_50pct")(X6, Y6) == get_metric(f"{fam}_3")(X6, Y6)


def test_top_k_hand_worked_k2():
    # K = 2: predicted {0, 1}; true top-2 = {1, 5} (y >= 85).
    #   P = 1/2; BR = 1/6; WR = 4/6; KD: the single pair (0,1) is discordant -> -1.
    assert get_metric("p_at_top_2")(X6, Y6) == pytest.approx(1 / 2)
    assert get_metric("br_at_2")(X6, Y6) == pytest.approx(1 / 6)
    assert get_metric("wr_at_2")(X6, Y6) == pytest.approx(4 / 6)
    assert get_metric("kd_at_top_2")(X6, Y6) == pytest.approx(-1.0)


def test_top_k_larger_than_n_is_clamped():
    x = np.array([5.0, 4, 3, 2, 1])
    y = np.array([50.0, 40, 30, 20, 10])
    m = get_metric("p_at_top_10")
    assert m.k == 10 and m.k_kind == "count" and m.k_used(5) == 5
    assert m(x, y) == 1.0
    assert get_metric("br_at_10")(x, y) == pytest.approx(1 / 5)
    assert get_metric("wr_at_10")(x, y) == pytest.approx(5 / 5)
    res = score(x, y, metrics=["p_at_top_10"], ci=False)["p_at_top_10"]
    assert (res.k, res.k_used, res.k_kind, res.value) == (10, 5, "count", 1.0)


def test_top_1():
    # argmax x = index 0; its true rank is 4 -> P@top-1 = 0, BR = WR = 4/6, KD undefined.
    assert get_metric("p_at_top_1")(X6, Y6) == 0.0
    assert get_metric("br_at_1")(X6, Y6) == pytest.approx(4 / 6)
    assert get_metric("wr_at_1")(X6, Y6) == pytest.approx(4 / 6)
    assert math.isnan(get_metric("kd_at_top_1")(X6, Y6))
    # make the argmax of x the argmax of y (index 1) -> P@top-1 = 1, BR = WR = 1/6
    x = X6.copy()
    x[1] = 2.0
    assert get_metric("p_at_top_1")(x, Y6) == 1.0
    assert get_metric("br_at_1")(x, Y6) == pytest.approx(1 / 6)
    assert get_metric("wr_at_1")(x, Y6) == pytest.approx(1 / 6)


@pytest.mark.parametrize(
    "k, n, expected",
    [
        (0.1, 36, 4),  # ceil(3.6)
        (0.1, 30, 3),  # 0.1 * 30 = 3.0000000000000004 in floats: still 3
        (0.07, 100, 7),
        (0.05, 10, 1),  # ceil(0.5)
        (0.01, 36, 1),  # at least one architecture
        (1.0, 36, 36),
        (5, 36, 5),
        (50, 36, 36),  # count clamped
    ],
)
def test_resolve_k(k, n, expected):
    kind = "count" if isinstance(k, int) else "fraction"
    assert resolve_k(k, kind, n) == expected


def test_fraction_k_of_36_is_4():
    x, y = correlated(36, 0.5, seed=3)
    res = score(x, y, metrics=["p_at_top_10pct"], ci=False)["p_at_top_10pct"]
    assert (res.k, res.k_used, res.k_kind, res.n) == (0.1, 4, "fraction", 36)
    top4 = np.argsort(-x)[:4]
    assert res.value == pytest.approx(np.isin(top4, np.argsort(-y)[:4]).mean())


def test_ties_at_true_top_k_boundary_all_count():
    #   index:   0     1     2     3     4     5
    #   x:      0.5   0.9   0.8   0.4   0.3   0.2   -> predicted top-2 = {1, 2}
    #   y:       80    90    80    70    60    50   -> 2nd largest y = 80, true top-2 = {0, 1, 2}
    # Arch 2 ties arch 0 at the boundary and counts as in: P@top-2 = 2/2 = 1.
    # (Breaking the y tie by index would have made the true top-2 {1, 0} and P = 1/2.)
    # True ranks with method='min': [2, 1, 2, 4, 5, 6] -> BR@2 = 1/6, WR@2 = 2/6.
    x = np.array([0.5, 0.9, 0.8, 0.4, 0.3, 0.2])
    y = np.array([80, 90, 80, 70, 60, 50], dtype=float)
    assert get_metric("p_at_top_2")(x, y) == 1.0
    assert get_metric("br_at_2")(x, y) == pytest.approx(1 / 6)
    assert get_metric("wr_at_2")(x, y) == pytest.approx(2 / 6)


def test_ties_at_predicted_top_k_boundary_broken_by_index():
    #   index:   0     1     2     3     4     5
    #   x:      0.9   0.5   0.5   0.5   0.1   0.0   -> stable order 0, 1, 2, 3, ...: top-2 = {0, 1}
    #   y:      100    10    90    80    20    30
    #   true rank: 1    6     2     3     5     4
    # P@top-2: true top-2 = {0, 2}; predicted {0, 1} -> 1/2. WR@2 = 6/6.
    x = np.array([0.9, 0.5, 0.5, 0.5, 0.1, 0.0])
    y = np.array([100, 10, 90, 80, 20, 30], dtype=float)
    assert get_metric("p_at_top_2")(x, y) == 0.5
    assert get_metric("wr_at_2")(x, y) == 1.0
    # Reordering the tied architectures changes which one enters: deterministic, index-based.
    perm = [0, 2, 1, 3, 4, 5]
    assert get_metric("p_at_top_2")(x[perm], y[perm]) == 1.0


@pytest.mark.parametrize("n", [10, 37])
def test_perfect_and_reversed_rankings(n):
    y = np.linspace(60, 90, n)
    x = y * 0.01 + 3
    for name in FIXED:
        assert get_metric(name)(x, y) == pytest.approx(1.0, abs=1e-12), name
    for k in (1, 3, 0.2):
        k_used = top_k_metric("p_at_top", k).k_used(n)
        assert top_k_metric("p_at_top", k)(x, y) == 1.0
        assert top_k_metric("br_at", k)(x, y) == pytest.approx(1 / n)
        assert top_k_metric("wr_at", k)(x, y) == pytest.approx(k_used / n)
        if k_used >= 2:
            assert top_k_metric("kd_at_top", k)(x, y) == pytest.approx(1.0)
    xr = -x
    for name in ("kendall_tau", "spearman", "pearson", "weighted_tau"):
        assert get_metric(name)(xr, y) == pytest.approx(-1.0, abs=1e-12), name
    for k in (1, 3, 0.2):
        k_used = top_k_metric("p_at_top", k).k_used(n)
        assert top_k_metric("p_at_top", k)(xr, y) == 0.0
        assert top_k_metric("br_at", k)(xr, y) == pytest.approx((n - k_used + 1) / n)
        assert top_k_metric("wr_at", k)(xr, y) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# Names and registries
# --------------------------------------------------------------------------------------------------


def test_name_parsing():
    m = get_metric("p_at_top_10pct")
    assert (m.family, m.k, m.k_kind, m.name, m.higher_is_better) == (
        "p_at_top",
        0.1,
        "fraction",
        "p_at_top_10pct",
        True,
    )
    m = get_metric("br_at_5")
    assert (m.family, m.k, m.k_kind, m.higher_is_better) == ("br_at", 5, "count", False)
    assert get_metric("wr_at_12.5pct").k == pytest.approx(0.125)
    assert get_metric("kd_at_top_05").name == "kd_at_top_5"
    assert get_metric("kendall_tau") is METRICS.get("kendall_tau")
    assert get_metric("kendall_tau").k is None and get_metric("kendall_tau").k_kind is None


def test_top_k_metric_names():
    assert top_k_metric("p_at_top", 0.1).name == "p_at_top_10pct"
    assert top_k_metric("p_at_top", 5).name == "p_at_top_5"
    assert top_k_metric("kd_at_top", 0.05).name == "kd_at_top_5pct"
    assert top_k_metric("br_at", 0.2).name == "br_at_20pct"
    with pytest.raises(HarnessError):
        top_k_metric("p_at_top", 0)
    with pytest.raises(HarnessError):
        top_k_metric("p_at_top", 1.5)


@pytest.mark.parametrize(
    "name, suggestion",
    [("kendal_tau", "kendall_tau"), ("p_at_top10pct", "p_at_top_10pct"), ("spearmn", "spearman")],
)
def test_unknown_name_suggests(name, suggestion):
    with pytest.raises(UnknownNameError, match=f"did you mean '{suggestion}'"):
        get_metric(name)


@pytest.mark.parametrize("name", ["p_at_top_0pct", "p_at_top_150pct", "br_at_0", "br_at_2.5"])
def test_bad_k_in_name(name):
    with pytest.raises(HarnessError) as e:
        get_metric(name)
    assert "\n" not in str(e.value)


def test_list_metrics_is_default_set_and_round_trips():
    ms = list_metrics()
    assert [m.name for m in ms] == list(DEFAULT_METRICS)
    assert len(ms) == 4 + 5 * 3  # 4 fixed, 5 top-K families at 5, 10, 20%
    assert {m.family for m in ms} == set(FIXED) | set(TOPK_FAMILIES.names())
    for m in ms:
        assert isinstance(m, Metric)
        assert get_metric(m.name) == m
        assert m.definition.endswith(".") and "\n" not in m.definition
        if m.k_kind == "fraction":
            assert m.k in (0.05, 0.1, 0.2)
    assert "top of both rankings" in get_metric("weighted_tau").definition


# --------------------------------------------------------------------------------------------------
# Bootstrap
# --------------------------------------------------------------------------------------------------


def test_bootstrap_contains_estimate_and_is_reproducible():
    x, y = correlated(80, 0.6, seed=4)
    tau = get_metric("kendall_tau")(x, y)
    lo, hi = bootstrap_ci("kendall_tau", x, y, n_resamples=400, rng=np.random.default_rng(7))
    assert lo < tau < hi
    assert 0.05 < hi - lo < 0.6
    again = bootstrap_ci("kendall_tau", x, y, n_resamples=400, rng=np.random.default_rng(7))
    assert again == (lo, hi)
    other = bootstrap_ci("kendall_tau", x, y, n_resamples=400, rng=np.random.default_rng(8))
    assert other != (lo, hi)
    narrower = bootstrap_ci(
        "kendall_tau", x, y, n_resamples=400, confidence=0.5, rng=np.random.default_rng(7)
    )
    assert lo < narrower[0] < narrower[1] < hi


def test_bootstrap_narrows_with_n():
    widths = {}
    for n in (30, 600):
        x, y = correlated(n, 0.6, seed=5)
        lo, hi = bootstrap_ci("kendall_tau", x, y, n_resamples=300, rng=np.random.default_rng(0))
        widths[n] = hi - lo
    # width ~ 1/sqrt(N): sqrt(20) ~ 4.5 times narrower
    assert widths[600] < widths[30] / 2.5


def test_bootstrap_drops_nan_resamples():
    # KD@top-2 is nan for resamples whose top-2 is one architecture drawn twice; the rest count.
    x, y = correlated(12, 0.5, seed=6)
    lo, hi = bootstrap_ci("kd_at_top_2", x, y, n_resamples=200, rng=np.random.default_rng(0))
    assert np.isfinite(lo) and np.isfinite(hi) and -1 <= lo <= hi <= 1
    # KD@top-1 is always nan: so is its interval
    assert all(
        math.isnan(v)
        for v in bootstrap_ci("kd_at_top_1", x, y, n_resamples=50, rng=np.random.default_rng(0))
    )


def test_bootstrap_coverage_sanity():
    # Bivariate normal with rho = 0.7: population Kendall tau = 2/pi * arcsin(rho).
    rho = 0.7
    true_tau = 2 / math.pi * math.asin(rho)
    hits = 0
    reps = 30
    for rep in range(reps):
        x, y = correlated(60, rho, seed=100 + rep)
        lo, hi = bootstrap_ci(
            "kendall_tau", x, y, n_resamples=150, confidence=0.9, rng=np.random.default_rng(rep)
        )
        hits += lo <= true_tau <= hi
    assert hits / reps >= 0.7  # nominal 0.9; loose bound, the check is for gross errors


# --------------------------------------------------------------------------------------------------
# score()
# --------------------------------------------------------------------------------------------------


def test_score_default_metrics_and_results():
    x, y = correlated(36, 0.6, seed=9)
    res = score(x, y, n_resamples=50, seed=3)
    assert list(res) == list(DEFAULT_METRICS)
    for name, r in res.items():
        assert isinstance(r, MetricResult) and r.name == name and r.n == 36
        m = get_metric(name)
        assert r.higher_is_better == m.higher_is_better
        assert r.value == m(x, y) or (math.isnan(r.value) and math.isnan(m(x, y)))
        if not math.isnan(r.value):
            assert r.ci_low <= r.ci_high
        d = r.to_dict()
        assert set(d) == {
            "name",
            "value",
            "ci_low",
            "ci_high",
            "higher_is_better",
            "k",
            "k_used",
            "k_kind",
            "n",
        }
    assert res["kendall_tau"].k_used is None
    assert res["wr_at_10pct"].k_used == 4


def test_score_ci_matches_bootstrap_ci_and_ignores_other_metrics():
    x, y = correlated(40, 0.5, seed=10)
    alone = score(x, y, metrics=["spearman"], n_resamples=100, seed=11)["spearman"]
    mixed = score(x, y, metrics=["p_at_top_5", "spearman"], n_resamples=100, seed=11)["spearman"]
    assert (alone.ci_low, alone.ci_high) == (mixed.ci_low, mixed.ci_high)
    direct = bootstrap_ci("spearman", x, y, n_resamples=100, rng=np.random.default_rng(11))
    assert (alone.ci_low, alone.ci_high) == direct
    assert score(x, y, metrics=["spearman"], ci=False)["spearman"].ci_low is None


@pytest.mark.parametrize(
    "x, y, match",
    [
        ([1.0, np.nan, 3.0, np.nan], [1.0, 2, 3, 4], r"^scores contain 2 NaN values"),
        ([1.0, 2, 3, 4], [1.0, 2, np.inf, 4], r"^accuracies contain 1 infinite value"),
        ([2.0, 2, 2, 2], [1.0, 2, 3, 4], r"^all scores are equal \(constant"),
        ([1.0, 2, 3, 4], [5.0, 5, 5, 5], r"^all ground-truth accuracies are equal \(constant"),
        ([1.0, 2, 3], [1.0, 2, 3, 4], r"different lengths \(3 vs 4\)"),
        ([1.0, 2], [2.0, 1], r"at least 3 architectures"),
        ([[1.0, 2], [3, 4]], [[1.0, 2], [3, 4]], r"1-D"),
    ],
)
def test_score_rejects_bad_input(x, y, match):
    with pytest.raises(HarnessError, match=match) as e:
        score(x, y, ci=False)
    assert "\n" not in str(e.value)
    assert ":" in str(e.value) or ";" in str(e.value)  # says what to do


def test_score_rejects_unknown_metric_and_bad_bootstrap_args():
    x, y = correlated(10, 0.5, seed=12)
    with pytest.raises(UnknownNameError):
        score(x, y, metrics=["kendall"])
    with pytest.raises(HarnessError):
        score(x, y, metrics=["spearman"], n_resamples=0)
    with pytest.raises(HarnessError):
        score(x, y, metrics=["spearman"], confidence=95)


def test_undefined_values_carry_a_note():
    x, y = correlated(20, 0.5, seed=13)
    res = score(x, y, metrics=["kd_at_top_1", "kendall_tau"], n_resamples=20, seed=0)
    note = res["kd_at_top_1"].note
    assert math.isnan(res["kd_at_top_1"].value) and "at least 2" in note and "Kendall tau" in note
    assert res["kd_at_top_1"].to_dict()["note"] == note
    assert res["kendall_tau"].note is None and "note" not in res["kendall_tau"].to_dict()
    # A top-K whose scores are all tied: constant scores among the top K.
    x2 = np.array([5.0, 5.0, 5.0, 1.0, 2.0, 3.0])
    y2 = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    tied = score(x2, y2, metrics=["kd_at_top_3"], ci=False)["kd_at_top_3"]
    assert math.isnan(tied.value) and tied.note == "constant scores among the top 3 by score: Kendall tau undefined"


def test_bootstrap_resamples_are_bounded_and_progress_is_reported():
    from harness.analysis.metrics import MAX_RESAMPLES

    x, y = correlated(12, 0.5, seed=14)
    with pytest.raises(HarnessError, match=str(MAX_RESAMPLES)):
        score(x, y, metrics=["spearman"], n_resamples=10**12)
    with pytest.raises(HarnessError):
        bootstrap_ci("spearman", x, y, n_resamples=MAX_RESAMPLES + 1)
    calls = []
    res = score(x, y, metrics=["spearman", "kd_at_top_1", "pearson"], n_resamples=30, seed=0,
                progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (1, 60) and calls[-1] == (60, 60)  # kd_at_top_1 is nan: not resampled
    assert [d for d, _ in calls[:-1]] == list(range(1, 61))
    plain = score(x, y, metrics=["spearman"], n_resamples=30, seed=0)["spearman"]
    assert (plain.ci_low, plain.ci_high) == (res["spearman"].ci_low, res["spearman"].ci_high)


def test_kendall_among_the_ground_truth_top_k_hand_worked():
    """Scores rank the predicted top right but the true top wrong, and the other way round."""
    from harness.analysis.metrics import get_metric

    y = np.array([10.0, 9.0, 8.0, 7.0, 6.0, 5.0])  # truth: 0 best
    x = np.array([1.0, 2.0, 3.0, 6.0, 5.0, 4.0])  # predicted top 3 = 3, 4, 5 (ordered right)
    kt = get_metric("kt_at_gt_top_3")
    kd = get_metric("kd_at_top_3")
    assert kt(x, y) == pytest.approx(-1.0)  # among the true best 0, 1, 2 the order is reversed
    assert kd(x, y) == pytest.approx(1.0)  # among the predicted top 3 it is right
    assert kt.higher_is_better and "best ground-truth accuracy" in kt.definition
    assert math.isnan(get_metric("kt_at_gt_top_1")(x, y))
    # ties in accuracy at the boundary: input order decides, as documented
    y2 = np.array([3.0, 2.0, 2.0, 1.0])
    x2 = np.array([0.3, 0.2, 0.1, 0.0])
    assert get_metric("kt_at_gt_top_2")(x2, y2) == pytest.approx(1.0)
