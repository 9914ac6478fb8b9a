"""`nas-harness check`: passes on an unchanged rerun, fails (exit 1) on a planted regression."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.analysis.correlate import correlate
from harness.benchmarks import load_benchmark
from harness.cli.main import cli
from harness.experiments import tables
from harness.io import atomic_write_json


def fake_results(truth, noise: float, shuffle: bool = False, seeds=(0, 1, 2)) -> list[dict]:
    results = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        acc = truth.frame["accuracy"].to_numpy()
        score = acc + rng.normal(0, noise, len(acc))
        if shuffle:  # the planted regression: predictions no longer follow the ground truth
            score = rng.permutation(score)
        pred = pd.DataFrame({"key": truth.frame["key"], "score": score})
        corr = correlate(pred, truth, n_resamples=200, seed=0).to_dict()
        results.append({"label": "pooling/uniform", "space": "pooling", "sampler": "uniform",
                        "benchmark": "pooling", "seed": seed, "run_dir": f"runs/fake-{seed}",
                        "config_hash": f"h{seed}", **corr})
    return results


def write_report(results, report_dir):
    built = {"table3": tables.table3(results, "smoke", report_dir)}
    atomic_write_json(report_dir / "summary.json", tables.summary_metrics(built))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def baseline(tmp_path, data_dir):
    truth = load_benchmark("pooling", data_dir)
    report = tmp_path / "smoke"
    write_report(fake_results(truth, noise=0.5), report)
    path = tmp_path / "baselines" / "smoke.json"
    result = invoke("check", "--baseline", path, "--results", report, "--update")
    assert result.exit_code == 0, result.output
    return truth, report, path


def test_baseline_records_tolerance_from_seed_spread(baseline):
    _, _, path = baseline
    stored = json.loads(path.read_text())
    entry = stored["metrics"]["table3/pooling/uniform/kendall"]
    assert entry["n_seeds"] == 3 and "seeds" in entry["tolerance_source"]
    assert entry["tolerance"] >= 0.02
    assert stored["profile"] == "smoke" and "git_commit" in stored


def test_unchanged_rerun_passes(baseline, tmp_path):
    truth, _, path = baseline
    rerun = tmp_path / "rerun" / "smoke"
    write_report(fake_results(truth, noise=0.5), rerun)
    result = invoke("check", "--baseline", path, "--results", rerun)
    assert result.exit_code == 0, result.output
    assert "within tolerance" in result.output


def test_planted_regression_fails_with_table(baseline, tmp_path):
    truth, _, path = baseline
    broken = tmp_path / "broken" / "smoke"
    write_report(fake_results(truth, noise=0.5, shuffle=True), broken)
    result = invoke("check", "--baseline", path, "--results", broken)
    assert result.exit_code == 1, result.output
    assert "table3/pooling/uniform/kendall" in result.output and "worse" in result.output


def test_missing_baseline_is_a_user_error(tmp_path):
    result = invoke("check", "--baseline", tmp_path / "none.json", "--results", tmp_path)
    assert result.exit_code == 2 and "baseline not found" in result.stderr


def test_tolerance_takes_the_larger_of_seed_spread_and_bootstrap():
    from harness.experiments.check import MIN_TOLERANCE, tolerance_for

    # Two seeds that agree by chance: the bootstrap width over architectures still counts.
    tol, source = tolerance_for({"n_seeds": 2, "std": 0.001, "boot_half": 0.2})
    assert tol == pytest.approx(0.2 / np.sqrt(2)) and "bootstrap" in source
    tol, source = tolerance_for({"n_seeds": 4, "std": 0.3, "boot_half": 0.1})
    assert tol == pytest.approx(2 * 0.3 / 2) and "standard error" in source
    assert tolerance_for({"n_seeds": 1, "std": None, "boot_half": None})[0] == MIN_TOLERANCE


def test_seed_interval_matches_t_distribution():
    import scipy.stats

    values = [0.2, 0.3, 0.4]
    mean, std, low, high = tables.seed_interval(values)
    half = scipy.stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert mean == pytest.approx(0.3) and low == pytest.approx(0.3 - half) and high == pytest.approx(0.3 + half)
    one = tables.seed_interval([0.25], boot=(0.1, 0.4))
    assert one[0] == 0.25 and np.isnan(one[1]) and one[2:] == (0.1, 0.4)


def test_baseline_without_metrics_is_a_user_error(baseline, tmp_path):
    # Before: "all 0 metrics within tolerance", exit 0.
    _, report, _ = baseline
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"profile": "smoke", "metrics": {}}))
    result = invoke("check", "--baseline", empty, "--results", report)
    assert result.exit_code == 2 and "no metrics" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content, fragment",
    [
        ([1, 2], "a JSON list"),
        ({"profile": "smoke", "metrics": "x"}, "'metrics' is a str"),
        ({"profile": "smoke", "metrics": {"a": [1]}}, "is a list"),
        ({"profile": "smoke", "metrics": {"a": {"value": 0.5}}}, "tolerance None"),
        ({"profile": "smoke", "metrics": {"a": {"value": 0.5, "tolerance": -1}}}, "negative"),
        ({"profile": "smoke", "metrics": {"a": {"value": True, "tolerance": 0.1}}}, "value True"),
        ({"metrics": {"a": {"value": 0.5, "tolerance": 0.1}}}, "names no profile"),
    ],
)
def test_baseline_of_the_wrong_shape_is_refused(tmp_path, content, fragment):
    path = tmp_path / "b.json"
    path.write_text(json.dumps(content))
    result = invoke("check", "--baseline", path)
    assert result.exit_code == 2, result.output
    assert fragment in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_update_refuses_an_empty_summary_and_writes_nothing(tmp_path):
    report = tmp_path / "smoke"
    report.mkdir()
    (report / "summary.json").write_text(json.dumps({"a": {"value": None}}))
    target = tmp_path / "new" / "smoke.json"
    result = invoke("check", "--baseline", target, "--results", report, "--update")
    assert result.exit_code == 2 and "no finite metric" in result.stderr
    assert not (tmp_path / "new").exists()


def test_baseline_json_is_strict(baseline):
    _, _, path = baseline
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
