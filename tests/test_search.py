"""Search strategies on synthetic scorers (fast), plus one tiny real supernet."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from harness.benchmarks.base import GroundTruth, Provenance, make_frame
from harness.errors import HarnessError, UnknownNameError
from harness.search import (
    SEARCHES,
    CachedScorer,
    SupernetScorer,
    TableScorer,
    run_search,
    strategy_options,
)
from harness.spaces import get_space

W = np.random.default_rng(123).normal(size=(8, 3))
PAIR = np.random.default_rng(7).normal(scale=0.3, size=(7, 3, 3))


def macro_objective(arch) -> float:
    """A known function of the (canonical) nb-macro code: additive terms plus neighbour pairs."""
    single = sum(W[i, c] for i, c in enumerate(arch))
    pairs = sum(PAIR[i, arch[i], arch[i + 1]] for i in range(7))
    return float(50 + 3 * single + 3 * pairs)


def macro_batch(arch, index: int) -> float:
    """A noisy one-batch version: the objective plus seeded N(0, 1) noise per (arch, batch)."""
    key = int("".join(map(str, arch)), 3)
    return macro_objective(arch) + float(np.random.default_rng([key, index]).normal())


def pooling_objective(arch) -> float:
    first, second = get_space("pooling").pools(arch)
    return float(90 - (first - 3) ** 2 - (second - 6) ** 2)


@pytest.fixture(scope="module")
def macro():
    space = get_space("nb-macro")
    values = {space.key(a): macro_objective(a) for a in space.distinct()}
    return space, values


def macro_scorer(space):
    return CachedScorer(space, macro_objective, macro_batch)


def test_registry_and_scorer_cache(macro):
    space, _ = macro
    assert {"bse", "evolutionary", "random"} <= set(SEARCHES.names())
    calls = []
    scorer = CachedScorer(space, lambda a: calls.append(a) or 1.0)
    assert scorer.score(space.parse("12001000")) == scorer.score(space.parse("12010000"))
    assert scorer.n_evaluations == 1 and calls == [space.parse("12010000")]  # canonical code


def test_random_with_full_budget_finds_optimum(macro):
    space, values = macro
    out = run_search("random", space, macro_scorer(space), seed=0, budget=len(values))
    assert out["n_evaluations"] == len(values)
    assert out["picked"][0] == max(values, key=values.get)
    assert out["scores"] == sorted(out["scores"], reverse=True) and len(out["picked"]) == 5
    pool = get_space("pooling")
    out = run_search("random", pool, CachedScorer(pool, pooling_objective), seed=1, budget=100)
    assert out["n_evaluations"] == 36 and out["picked"][0] == pool.key(pool._from_pools((3, 6)))


def test_evolutionary_beats_random(macro):
    space, values = macro
    threshold = np.quantile(list(values.values()), 0.98)
    best = {"evolutionary": [], "random": []}
    for seed in range(5):
        for name in best:
            scorer = macro_scorer(space)
            out = run_search(name, space, scorer, seed=seed, budget=300)
            assert out["n_evaluations"] == scorer.n_evaluations == 300
            best[name].append(out["scores"][0])
        assert best["evolutionary"][-1] >= threshold
    assert np.mean(best["evolutionary"]) > np.mean(best["random"])
    assert out["options"] == strategy_options("random")


def test_evolutionary_records_defaults(macro):
    space, _ = macro
    out = run_search("evolutionary", space, macro_scorer(space), seed=0, budget=120)
    assert out["options"] == strategy_options("evolutionary")
    assert out["options"]["population_size"] == 50 and out["options"]["mutation_prob"] == 0.1
    steps = [i for i, _ in out["history"]]
    bests = [b for _, b in out["history"]]
    assert steps == list(range(1, 121)) and bests == sorted(bests) and bests[-1] == out["scores"][0]


def test_bse_low_temperature_concentrates(macro):
    space, values = macro
    ranked = sorted(values.values(), reverse=True)
    top5pct = ranked[int(0.05 * len(ranked))]
    scorer = macro_scorer(space)
    out = run_search("bse", space, scorer, seed=0, budget=400, temperature=0.1)
    visits = out["extra"]["visits"]
    most = max(visits, key=visits.get)
    assert values[most] >= top5pct
    assert visits[most] >= 0.25 * (400 - out["extra"]["n_init"])
    assert out["n_batch_evaluations"] == 400 and out["extra"]["pool_size"] == 1000
    assert scorer.n_batch_evaluations <= 400 and scorer.n_evaluations == len(out["picked"]) == 5
    assert out["scores"] == [values[k] for k in out["picked"]]


@pytest.mark.parametrize("name", ["random", "evolutionary", "bse"])
@pytest.mark.parametrize("budget", [1, 7, 60])
def test_budget_never_exceeded(macro, name, budget):
    space, _ = macro
    scorer = macro_scorer(space)
    opts = {"population_size": 20, "n_mutation": 10, "n_crossover": 10} if name == "evolutionary" else {}
    out = run_search(name, space, scorer, seed=3, budget=budget, **opts)
    assert scorer.n_evaluations == out["n_evaluations"] <= budget
    assert scorer.n_batch_evaluations <= budget
    assert 1 <= len(out["picked"]) <= 5


@pytest.mark.parametrize("name", ["random", "evolutionary", "bse"])
def test_deterministic(macro, name):
    space, _ = macro
    a = run_search(name, space, macro_scorer(space), seed=11, budget=80)
    b = run_search(name, space, macro_scorer(space), seed=11, budget=80)
    c = run_search(name, space, macro_scorer(space), seed=12, budget=80)
    assert a == b
    assert a["history"] != c["history"]


@pytest.mark.parametrize("name", ["random", "evolutionary", "bse"])
def test_pooling_constrained_space(name):
    space = get_space("pooling")
    scorer = CachedScorer(space, pooling_objective)
    opts = ({"population_size": 8, "top_k": 3, "n_mutation": 4, "n_crossover": 4}
            if name == "evolutionary" else {})
    out = run_search(name, space, scorer, seed=0, budget=30, **opts)
    assert all(space.is_valid(space.parse(k)) for k in out["picked"])
    assert scorer.n_evaluations <= 30
    if name != "bse":
        assert out["n_evaluations"] == 30
    if name == "evolutionary":
        assert out["extra"]["generations"] >= 3
        assert out["picked"][0] == space.key(space._from_pools((3, 6)))


def fake_truth(space_name, rows):
    frame = make_frame({"key": [k for k, _ in rows], "accuracy": [a for _, a in rows]},
                       dataset="cifar10", split="test", epochs=1)
    return GroundTruth("fake", space_name, frame, Provenance("fake.csv", "0" * 64, "test_acc"))


def test_run_search_attaches_truth(macro):
    space, _ = macro
    target = space.parse("12010000")

    def near_target(arch):
        return -float(space.hamming(arch, target))

    truth = fake_truth("nb-macro", [("12010000", 90.0), ("12001000", 92.0),  # one network
                                    ("22222222", 95.0), ("00000000", 80.0)])
    out = run_search("random", space, CachedScorer(space, near_target), seed=0,
                     budget=space.n_distinct, truth=truth)
    assert out["picked"][0] == "12010000"
    assert out["truth_accuracy"] == pytest.approx(91.0)
    assert out["truth_rank"] == 2 and out["truth_best_accuracy"] == 95.0
    assert out["truth_n_distinct"] == 3 and out["truth_regret"] == pytest.approx(4.0)
    assert out["picked_truth_accuracy"][1:] == [None] * 4
    assert out["picked_truth_rank"][1:] == [None] * 4
    with pytest.raises(HarnessError, match="space"):
        run_search("random", space, CachedScorer(space, near_target), seed=0, budget=3,
                   truth=fake_truth("pooling", [("0000100100", 90.0)]))


def test_table_scorer(macro):
    space, _ = macro
    scorer = TableScorer(space, {"12001000": 60.0, "12010000": 70.0, "22222222": 80.0})
    assert scorer.score(space.parse("12010000")) == 65.0
    pool = get_space("pooling")
    table = {pool.key(a): pooling_objective(a) for a in pool.enumerate()}
    out = run_search("random", pool, TableScorer(pool, table), seed=0, budget=36)
    assert out["picked"][0] == pool.key(pool._from_pools((3, 6)))
    with pytest.raises(HarnessError, match="not in the score table"):
        scorer.score(space.parse("00000000"))


def test_unknown_names(macro):
    space, _ = macro
    with pytest.raises(UnknownNameError, match="did you mean 'evolutionary'"):
        run_search("evolutionnary", space, macro_scorer(space), seed=0, budget=5)
    with pytest.raises(HarnessError, match="did you mean 'temperature'"):
        run_search("bse", space, macro_scorer(space), seed=0, budget=5, temprature=0.5)
    with pytest.raises(HarnessError, match="budget"):
        run_search("random", space, macro_scorer(space), seed=0, budget=0)


def test_real_tiny_supernet():
    torch = pytest.importorskip("torch")
    from harness.nets import NetConfig, build_supernet

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only contend on a busy machine
    try:
        _tiny_supernet_search(torch, NetConfig, build_supernet)
    finally:
        torch.set_num_threads(threads)


def _tiny_supernet_search(torch, NetConfig, build_supernet):
    torch.manual_seed(0)
    net = build_supernet("pooling", NetConfig(in_channels=1, num_classes=10, input_size=16,
                                              width_mult=0.25))
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 1, 16, 16, generator=g), torch.randint(0, 10, (8,), generator=g))
               for _ in range(2)]
    space = get_space("pooling")
    scorer = SupernetScorer(net, space, batches, bn_eval="batch")
    out = run_search("random", space, scorer, seed=0, budget=5)
    assert out["n_evaluations"] == scorer.n_evaluations == 5
    assert all(0.0 <= s <= 100.0 for s in out["scores"])
    one = scorer.batch_score(space.parse(out["picked"][0]), 3)  # batch 3 % 2 = 1
    assert 0.0 <= one <= 100.0 and scorer.n_batch_evaluations == 1


def test_paired_search_matches_a_hand_worked_paired_t():
    from scipy import stats

    from harness.experiments.search_table import paired_search

    def row(arm, seed, accuracy):
        return {"benchmark": "b", "strategy": "random", "arm": arm, "seed": seed,
                "truth_accuracy": accuracy}

    runs = pd.DataFrame([row("uniform", s, a) for s, a in enumerate([80.0, 81.0, 82.0])]
                        + [row("debiased", s, a) for s, a in enumerate([81.0, 81.5, 83.0])]
                        + [row("fairnas", 0, 90.0)])
    table = paired_search(runs)
    debiased = table.data.set_index("arm").loc["debiased"]
    diffs = np.array([1.0, 0.5, 1.0])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
    assert debiased["mean_difference"] == pytest.approx(diffs.mean())
    assert debiased["ci_low"] == pytest.approx(diffs.mean() - half)
    assert debiased["ci_high"] == pytest.approx(diffs.mean() + half)
    assert debiased["p_value"] == pytest.approx(stats.ttest_1samp(diffs, 0).pvalue)
    assert debiased["mde_80"] > abs(debiased["mean_difference"])  # 3 pairs: below the MDE...
    assert debiased["mde_df"] == 2
    assert debiased["mde_80_low"] < debiased["mde_80"] < debiased["mde_80_high"]
    shown = table.display.set_index("arm")
    assert shown.loc["fairnas", "verdict"] == "no test: fewer than 2 pairs"
    # ... yet p = 0.038: a result is a p below 0.05, whatever the MDE says
    assert shown.loc["debiased", "verdict"].startswith("result: a difference (p = 0.038")
