"""`nas-harness plan`: seeds and cost from measured spreads."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.analysis.power import power
from harness.cli.main import cli
from harness.experiments.plan import plan


def write_results(folder, values: dict, seconds: float = 360.0):
    rows = []
    for (benchmark, sampler), per_seed in values.items():
        for seed, value in enumerate(per_seed):
            rows.append({"benchmark": benchmark, "sampler": sampler, "seed": seed,
                         "label": f"x/{sampler}", "train_seconds": seconds, "eval_seconds": 0.0,
                         "metrics": {"kendall_tau": {"value": value}}})
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "runs.json").write_text(json.dumps(rows))


def test_plan_uses_paired_spread_and_reaches_the_power(tmp_path):
    uniform = [0.10, 0.20, 0.15, 0.25]
    debiased = [0.15, 0.22, 0.24, 0.27]  # differences 0.05, 0.02, 0.09, 0.02
    write_results(tmp_path, {("pooling-fmnist", "uniform"): uniform,
                             ("pooling-fmnist", "debiased"): debiased})
    out = plan("table3", "smoke", 0.05, tmp_path)
    (row,) = [r for r in out["comparisons"] if r["arm"] == "debiased"]
    diffs = [b - a for a, b in zip(uniform, debiased)]
    import numpy as np

    sd = float(np.std(diffs, ddof=1))
    assert row["sd_difference"] == pytest.approx(sd) and "paired" in row["spread_from"]
    n = row["seeds_needed"]
    assert power(0.05, sd, n) >= 0.8 > power(0.05, sd, n - 1)
    assert row["hours"] == pytest.approx(n * 2 * 360 / 3600)
    assert row["design_seeds"] == 3  # the smoke table3 design


def test_plan_cli_and_errors(tmp_path):
    write_results(tmp_path, {("pooling-fmnist", "uniform"): [0.1, 0.3, 0.2],
                             ("pooling-fmnist", "debiased"): [0.2, 0.3, 0.4]})
    runner = CliRunner()
    result = runner.invoke(cli, ["plan", "table3", "--profile", "smoke", "--effect", "0.1",
                                 "--results", str(tmp_path)])
    assert result.exit_code == 0 and "seeds per arm" in result.output
    bad = runner.invoke(cli, ["plan", "table3", "--profile", "smoke", "--effect", "-1",
                              "--results", str(tmp_path)])
    assert bad.exit_code == 2 and "--effect must be a positive" in bad.output
    missing = runner.invoke(cli, ["plan", "table3", "--effect", "0.1", "--results",
                                  str(tmp_path / "none")])
    assert missing.exit_code == 2 and "pilot" in missing.output
    unknown = runner.invoke(cli, ["plan", "tabel3", "--effect", "0.1"])
    assert unknown.exit_code == 2 and "did you mean 'table3'" in unknown.output
