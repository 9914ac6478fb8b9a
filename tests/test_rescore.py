"""`rescore`: finished runs scored under another evaluation, as a folder `check` reads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli.main import cli
from harness.train.config import RunConfig
from harness.train.runner import train_run


@pytest.fixture
def run(tmp_path, data_dir, monkeypatch):
    monkeypatch.setenv("HARNESS_DATA_DIR", str(data_dir))
    cfg = RunConfig(space="pooling", benchmark="pooling-fmnist", dataset="fashion-mnist",
                    subset=512, resize=8, width_mult=0.25, epochs=1, batch_size=32,
                    eval_batch_size=128, eval_images=256, seed=3,
                    net_options={"bn_track_running_stats": True})
    return train_run(cfg, tmp_path / "run", progress=False)


def test_rescore_writes_a_reproduction_that_check_reads(run, tmp_path, data_dir):
    from harness.analysis.correlate import correlate
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run

    out = tmp_path / "rescored"
    result = CliRunner().invoke(cli, ["rescore", str(run), "--out", str(out), "--bn-eval",
                                      "running", "--quiet"])
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    entry = summary["table3/pooling-fmnist/uniform/kendall"]
    assert entry["seeds"] == [3] and entry["n_seeds"] == 1
    pred = evaluate_run(run, "distinct", None, "running", progress=False)
    truth = load_benchmark("pooling-fmnist", data_dir)
    expected = correlate(pred.rename(columns={"supernet_accuracy": "score"})[["key", "score"]],
                         truth, networks="distinct", metrics=["kendall_tau"], n_resamples=0)
    assert entry["per_seed"][0] == pytest.approx(expected.metrics["kendall_tau"].value)
    runs = json.loads((out / "runs.json").read_text())
    assert runs[0]["bn_eval"] == "running" and runs[0]["profile"] == "smoke"
    environment = json.loads((out / "environment.json").read_text())
    assert environment["id"] is not None  # the run recorded its fingerprint


def test_rescore_of_a_folder_that_is_not_a_run_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["rescore", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not a run directory" in result.stderr
    assert not (tmp_path / "o").exists()
