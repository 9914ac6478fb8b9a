"""Arms: two Table 3 arms can share a sampler (the paper's tau 7 and a tilted tau 0.5), so
the design, the paired comparison, the plan and the runs list keep them apart by label."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.experiments.arms import arm_of
from harness.experiments.plan import plan
from harness.experiments.spec import runs_for
from harness.experiments.tables import paired_comparisons


def result(arm: str, sampler: str, seed: int, tau: float, space: str = "pooling") -> dict:
    return {"benchmark": f"{space}-fmnist", "space": space, "sampler": sampler, "seed": seed,
            "label": f"{space}/{arm}", "train_seconds": 100.0, "eval_seconds": 0.0, "n": 36,
            "metrics": {"kendall_tau": {"value": tau, "ci_low": None, "ci_high": None}}}


def test_arm_is_the_label_tail():
    assert arm_of({"label": "pooling/debiased-tau0.5", "sampler": "debiased"}) == "debiased-tau0.5"
    assert arm_of({"label": "nb201/nb201-fmnist/pada", "sampler": "pada"}) == "pada"
    assert arm_of({"sampler": "uniform"}) == "uniform"


def test_cpu_table3_has_a_tilted_arm_paired_with_uniform():
    specs = runs_for("table3", "cpu")
    by_arm = {}
    for s in specs:
        by_arm.setdefault((s.config.space, s.arm), []).append(s)
    tilted, paper_arm = by_arm[("pooling", "debiased-tau0.5")], by_arm[("pooling", "debiased")]
    assert {s.config.sampler for s in tilted} == {"debiased"}
    assert {s.config.sampler_options.tau for s in tilted} == {0.5}
    assert {s.config.sampler_options.tau for s in paper_arm} == {7.0}
    # Same seeds as the uniform arm, and different runs from the paper's arm.
    assert ({s.config.seed for s in tilted}
            == {s.config.seed for s in by_arm[("pooling", "uniform")]})
    assert not {s.config.hash() for s in tilted} & {s.config.hash() for s in paper_arm}
    assert ("nb-macro", "debiased-tau0.5") not in by_arm  # pooling only (the cpu budget)
    assert not [s for s in runs_for("table3", "smoke") if s.arm == "debiased-tau0.5"]


def test_paired_comparison_keeps_arms_of_one_sampler_apart():
    uniform = [0.30, 0.35, 0.32, 0.40]
    paper_arm = [0.31, 0.36, 0.31, 0.41]
    tilted = [0.40, 0.42, 0.45, 0.47]
    results = ([result("uniform", "uniform", s, v) for s, v in enumerate(uniform)]
               + [result("debiased", "debiased", s, v) for s, v in enumerate(paper_arm)]
               + [result("debiased-tau0.5", "debiased", s, v) for s, v in enumerate(tilted)])
    _, rows = paired_comparisons(results, metrics=("kendall_tau",))
    by_arm = {r["arm"]: r for r in rows}
    assert set(by_arm) == {"debiased", "debiased-tau0.5"}
    assert by_arm["debiased"]["mean_difference"] == pytest.approx(
        np.mean(np.subtract(paper_arm, uniform)))
    assert by_arm["debiased-tau0.5"]["mean_difference"] == pytest.approx(
        np.mean(np.subtract(tilted, uniform)))
    assert all(r["sampler"] == "debiased" and r["n_pairs"] == 4 for r in rows)


def test_plan_sizes_each_arm_from_its_own_runs(tmp_path):
    uniform = [0.30, 0.35, 0.32]
    paper_arm = [0.31, 0.36, 0.31]  # differences +0.01, +0.01, -0.01
    tilted = [0.40, 0.50, 0.36]  # differences +0.10, +0.15, +0.04
    rows = ([result("uniform", "uniform", s, v) for s, v in enumerate(uniform)]
            + [result("debiased", "debiased", s, v) for s, v in enumerate(paper_arm)]
            + [result("debiased-tau0.5", "debiased", s, v) for s, v in enumerate(tilted)])
    (tmp_path / "runs.json").write_text(json.dumps(rows))
    out = {r["arm"]: r for r in plan("table3", "cpu", 0.1, tmp_path)["comparisons"]
           if r["benchmark"] == "pooling-fmnist"}
    assert out["debiased"]["sd_difference"] == pytest.approx(
        np.std(np.subtract(paper_arm, uniform), ddof=1))
    assert out["debiased-tau0.5"]["sd_difference"] == pytest.approx(
        np.std(np.subtract(tilted, uniform), ddof=1))
    assert out["debiased-tau0.5"]["design_seeds"] == 8


def _with_run_dir(r: dict, tmp_path) -> dict:
    metrics = {**r["metrics"], "spearman": dict(r["metrics"]["kendall_tau"])}
    return {**r, "metrics": metrics,
            "run_dir": str(tmp_path / f"{r['label'].replace('/', '-')}-s{r['seed']}")}


def test_table4_and_table5_pair_each_arm_with_their_reference_arm(tmp_path):
    from harness.experiments.tables import table4, table5

    imd, kde = [0.30, 0.35, 0.32], [0.33, 0.39, 0.31]
    t4 = [_with_run_dir(result("inverse_mean_distance", "debiased", s, v), tmp_path)
          for s, v in enumerate(imd)]
    t4 += [_with_run_dir(result("kde", "debiased", s, v), tmp_path) for s, v in enumerate(kde)]
    frame = table4(t4, "cpu", tmp_path)
    (row,) = frame.attrs["paired"][:1]
    assert (row["arm"], row["baseline"], row["n_pairs"]) == ("kde", "inverse_mean_distance", 3)
    assert row["mean_difference"] == pytest.approx(np.mean(np.subtract(kde, imd)))
    assert "Paired comparison with inverse_mean_distance" in (tmp_path / "table4.md").read_text()
    assert (tmp_path / "table4_paired.csv").is_file()

    t5 = [_with_run_dir(result(f"tau={tau:g}", "debiased", s, v + shift, "nb-macro"), tmp_path)
          for tau, shift in ((7.0, 0.0), (0.5, 0.05), (50.0, -0.01))
          for s, v in enumerate([0.55, 0.56])]
    rows = {r["arm"]: r for r in table5(t5, "cpu", tmp_path).attrs["paired"]
            if r["metric"] == "kendall_tau"}
    assert set(rows) == {"tau=0.5", "tau=50"}
    assert rows["tau=0.5"]["mean_difference"] == pytest.approx(0.05)
    assert rows["tau=50"]["mean_difference"] == pytest.approx(-0.01)


def test_cpu_table5_pairs_tau_half_with_table3s_tau7_runs_on_three_seeds():
    specs = runs_for("table5", "cpu")
    seeds = {}
    for s in specs:
        seeds.setdefault(s.arm, set()).add(s.config.seed)
        assert s.config.sampler == "debiased" and s.config.space == "nb-macro"
    assert seeds == {"tau=50": {0, 1}, "tau=7": {0, 1, 2}, "tau=0.5": {0, 1, 2}}
    table3 = {(s.config.seed, s.config.hash()) for s in runs_for("table3", "cpu")
              if s.label == "nb-macro/debiased"}
    assert {(s.config.seed, s.config.hash()) for s in specs if s.arm == "tau=7"} == table3
    # Every other profile runs the paper's four temperatures on all of its seeds.
    paper = runs_for("table5", "paper")
    assert {s.arm for s in paper} == {"tau=50", "tau=7", "tau=0.5", "tau=0.1"}
    assert len(paper) == 12
