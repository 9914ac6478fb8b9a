"""`nas-harness check`: passes on an unchanged rerun, fails (exit 1) on a planted regression."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.analysis.correlate import correlate
from harness.analysis.intervals import seed_interval
from harness.benchmarks import load_benchmark
from harness.cli.main import cli
from harness.experiments import tables
from harness.io import atomic_write_json


def fake_results(truth, noise: float, shuffle: bool = False, seeds=(0, 1, 2),
                 offset: int = 0) -> list[dict]:
    """Per-seed results whose scores are the truth plus noise; `offset` draws other seeds' noise
    (a rerun on another machine: the same seeds train differently there)."""
    results = []
    for seed in seeds:
        rng = np.random.default_rng(seed + offset)
        acc = truth.frame["accuracy"].to_numpy()
        score = acc + rng.normal(0, noise, len(acc))
        if shuffle:  # the planted regression: predictions no longer follow the ground truth
            score = rng.permutation(score)
        pred = pd.DataFrame({"key": truth.frame["key"], "score": score})
        corr = correlate(pred, truth, n_resamples=200, seed=0).to_dict()
        results.append({"label": "pooling/uniform", "space": "pooling", "sampler": "uniform",
                        "benchmark": "pooling", "seed": seed, "run_dir": f"runs/fake-{seed}",
                        "config_hash": f"h{seed}", "profile": "smoke", **corr})
    return results


FINGERPRINT = {"torch": "t", "numpy": "n", "blas": "b", "cpu_model": "m", "cpu_flags": "f",
               "threads": 2, "device": "cpu"}


def write_report(results, report_dir, fingerprint: dict | None = FINGERPRINT):
    from harness.environment import fingerprint_id

    built = {"table3": tables.table3(results, "smoke", report_dir)}
    atomic_write_json(report_dir / "summary.json", tables.summary_metrics(built))
    atomic_write_json(report_dir / "runs.json", results)
    atomic_write_json(report_dir / "environment.json",
                      {"fingerprint": fingerprint, "id": fingerprint_id(fingerprint)})


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def baseline(tmp_path, data_dir):
    truth = load_benchmark("pooling", data_dir)
    report = tmp_path / "smoke"
    write_report(fake_results(truth, noise=0.5, seeds=tuple(range(6))), report)
    path = tmp_path / "baselines" / "smoke.json"
    result = invoke("check", "--baseline", path, "--results", report, "--update")
    assert result.exit_code == 0, result.output
    return truth, report, path


def test_baseline_records_per_seed_values_and_the_environment(baseline):
    _, _, path = baseline
    stored = json.loads(path.read_text())
    entry = stored["metrics"]["table3/pooling/uniform/kendall"]
    assert entry["n_seeds"] == 6 and len(entry["per_seed"]) == 6 and entry["seeds"] == list(range(6))
    assert entry["value"] == pytest.approx(np.mean(entry["per_seed"]))
    assert stored["profile"] == "smoke" and "git_commit" in stored and stored["format"] == 2
    assert stored["environment"]["fingerprint"] == FINGERPRINT


def test_same_environment_is_exact(baseline, tmp_path):
    truth, _, path = baseline
    same = tmp_path / "same" / "smoke"
    write_report(fake_results(truth, noise=0.5, seeds=tuple(range(6))), same)
    result = invoke("check", "--baseline", path, "--results", same)
    assert result.exit_code == 0, result.output
    assert "mode: exact" in result.output and "identical" in result.output
    # One seed moved by 0.0003: on the same environment that is a change, not noise.
    summary = json.loads((same / "summary.json").read_text())
    summary["table3/pooling/uniform/kendall"]["per_seed"][2] += 0.0003
    atomic_write_json(same / "summary.json", summary)
    result = invoke("check", "--baseline", path, "--results", same)
    assert result.exit_code == 1, result.output
    assert "1 of 2 metrics changed" in result.output and "0.000300" in result.output


def test_another_environment_passes_a_rerun_with_no_change(baseline, tmp_path):
    truth, _, path = baseline
    other = dict(FINGERPRINT, cpu_model="another")
    rerun = tmp_path / "rerun" / "smoke"
    write_report(fake_results(truth, noise=0.5, seeds=(0, 1, 2), offset=100), rerun, other)
    result = invoke("check", "--baseline", path, "--results", rerun)
    assert result.exit_code == 0, result.output
    assert "mode: statistical" in result.output and "cpu_model" in result.output
    assert "no metric of 2 dropped" in result.output


def test_another_environment_fails_a_planted_regression(baseline, tmp_path):
    truth, _, path = baseline
    broken = tmp_path / "broken" / "smoke"
    write_report(fake_results(truth, noise=0.5, shuffle=True, offset=100), broken, None)
    result = invoke("check", "--baseline", path, "--results", broken)
    assert result.exit_code == 1, result.output
    assert "table3/pooling/uniform/kendall" in result.output and "worse" in result.output
    assert "record no single environment" in result.output


def test_a_gain_never_fails_the_statistical_check(baseline, tmp_path):
    truth, _, path = baseline
    better = tmp_path / "better" / "smoke"
    write_report(fake_results(truth, noise=0.05, offset=100), better, None)
    result = invoke("check", "--baseline", path, "--results", better)
    assert result.exit_code == 0, result.output


def test_results_of_another_profile_are_refused(baseline, tmp_path):
    truth, _, path = baseline
    cpu = tmp_path / "cpu"
    results = [{**r, "profile": "cpu"} for r in fake_results(truth, noise=0.5)]
    write_report(results, cpu)
    result = invoke("check", "--baseline", path, "--results", cpu)
    assert result.exit_code == 2 and "compare like with like" in result.stderr


def test_only_selects_metrics(baseline, tmp_path):
    truth, _, path = baseline
    rerun = tmp_path / "rerun" / "smoke"
    write_report(fake_results(truth, noise=0.5, offset=100), rerun, None)
    result = invoke("check", "--baseline", path, "--results", rerun, "--only",
                    "table3/pooling/uniform/kendall")
    assert result.exit_code == 0, (result.output, result.stderr)
    assert "of 1 dropped" in result.output
    result = invoke("check", "--baseline", path, "--results", rerun, "--only", "table9")
    assert result.exit_code == 2 and "no metric" in result.stderr


def test_missing_baseline_is_a_user_error(tmp_path):
    result = invoke("check", "--baseline", tmp_path / "none.json", "--results", tmp_path)
    assert result.exit_code == 2 and "baseline not found" in result.stderr


def test_seed_interval_matches_t_distribution():
    import scipy.stats

    values = [0.2, 0.3, 0.4]
    mean, std, low, high = seed_interval(values)
    half = scipy.stats.t.ppf(0.975, 2) * np.std(values, ddof=1) / np.sqrt(3)
    assert mean == pytest.approx(0.3) and low == pytest.approx(0.3 - half) and high == pytest.approx(0.3 + half)
    one = seed_interval([0.25], boot=(0.1, 0.4))
    assert one[0] == 0.25 and np.isnan(one[1]) and one[2:] == (0.1, 0.4)


def test_baseline_without_metrics_is_a_user_error(baseline, tmp_path):
    _, report, _ = baseline
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"format": 2, "profile": "smoke", "metrics": {}}))
    result = invoke("check", "--baseline", empty, "--results", report)
    assert result.exit_code == 2 and "no metrics" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _v2(metrics, **extra):
    return {"format": 2, "profile": "smoke", "metrics": metrics, **extra}


@pytest.mark.parametrize(
    "content, fragment",
    [
        ([1, 2], "a JSON list"),
        (_v2("x"), "'metrics' is a str"),
        (_v2({"a": [1]}), "is a list"),
        ({"profile": "smoke", "metrics": {"a": {"value": 0.5, "tolerance": 0.1}}},
         "format 1"),
        (_v2({"a": {"value": 0.5}}), "per_seed None"),
        (_v2({"a": {"per_seed": []}}), "per_seed []"),
        (_v2({"a": {"per_seed": [0.1, float("nan")]}}), "per_seed [0.1, nan]"),
        (_v2({"a": {"per_seed": [0.1, True]}}), "finite numbers"),
        (_v2({"a": {"per_seed": [0.1], "higher_is_better": "yes"}}), "higher_is_better"),
        ({"format": 2, "metrics": {"a": {"per_seed": [0.5]}}}, "names no profile"),
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
    assert result.exit_code == 2 and "no metric with finite per-seed values" in result.stderr
    assert not (tmp_path / "new").exists()


def test_baseline_json_is_strict(baseline):
    _, _, path = baseline
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text


def test_simulate_prints_false_alarms_and_power_against_named_drops(baseline):
    _, _, path = baseline
    result = invoke("check", "--baseline", path, "--simulate", "--reps", 400,
                    "--drop", "big=0.6@table3/pooling/uniform/kendall", "--new-seeds", 4)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    false_alarm = float(next(line for line in lines if "false alarms" in line).split(":")[1]
                        .split()[0])
    assert false_alarm <= 0.08
    big = next(line for line in lines if "against big" in line)
    assert "1 metrics" in big and float(big.rsplit(":", 1)[1]) > 0.8
    bad = invoke("check", "--baseline", path, "--simulate", "--drop", "oops")
    assert bad.exit_code == 2 and "NAME=NUMBER" in bad.stderr
