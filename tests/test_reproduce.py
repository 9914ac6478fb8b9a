"""`reproduce` end to end on a tiny profile: cache by config hash, resume, tables, figures, report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from harness.benchmarks.base import make_frame
from harness.cli.main import cli
from harness.experiments import spec as spec_module
from harness.experiments.reproduce import reproduce
from harness.rundir import RunDir
from harness.spaces import get_space
from harness.train.config import resolve_config


@pytest.fixture
def tiny_setup(tmp_path, monkeypatch):
    # A fake Fashion-MNIST pooling benchmark in a data dir (takes precedence over the repo's).
    space = get_space("pooling")
    keys = [space.key(a) for a in space.enumerate()]
    rng = np.random.default_rng(0)
    frame = make_frame({"key": keys, "accuracy": rng.uniform(80, 90, len(keys))},
                       dataset="fashion-mnist", split="test", epochs=1)
    (tmp_path / "data" / "pooling-fmnist").mkdir(parents=True)
    frame.to_csv(tmp_path / "data" / "pooling-fmnist" / "pooling-fmnist.csv", index=False)

    def tiny_runs(profile):
        specs = []
        for sampler in ("uniform", "debiased"):
            options = {"figure_archs": 0, "track_density_during_warmup": False} if sampler == "debiased" else None
            cfg = resolve_config("pooling", "smoke", benchmark="pooling-fmnist", sampler=sampler, seed=0,
                                 subset=400, resize=16, width_mult=0.25, epochs=2, warmup_epochs=1,
                                 batch_size=50, steps_per_epoch=2, eval_batch_size=100,
                                 eval_images=100, num_threads=1, probe_size=64,
                                 sampler_options=options)
            specs.append(spec_module.RunSpec(f"pooling/{sampler}", cfg))
        return specs

    real = spec_module.EXPERIMENTS.get("table3")
    with spec_module.EXPERIMENTS.swapped("table3", spec_module.Experiment(
            "table3", "Table 3 (tiny)", tiny_runs, build=real.build)):
        yield tmp_path


@pytest.mark.slow
def test_reproduce_table3_caches_resumes_and_reports(tiny_setup):
    root = tiny_setup
    out = reproduce(["table3"], "smoke", root / "runs", root / "report", data_dir=root / "data",
                    progress=False, log=lambda *_: None)
    report = root / "report"
    for name in ("table3.md", "table3.csv", "fig1_pooling.png", "summary.json", "runs.json"):
        assert (report / name).is_file(), name
    table = pd.read_csv(report / "table3.csv")
    assert set(table["sampler"]) == {"uniform", "debiased"}
    # the paper's numbers stand in a table of their own, dataset named, never in our rows
    text = (report / "table3.md").read_text()
    ours, published = text.split("### Published numbers")
    assert "paper" not in ours.split("\n\n")[1] and "Fashion-MNIST" in ours.splitlines()[0]
    assert "| pooling (ResNet20, CIFAR-10) | uniform | 0.16 | 0.21 |" in published
    summary = json.loads((report / "summary.json").read_text())
    assert "table3/pooling-fmnist/debiased/kendall" in summary
    assert out["wall_seconds"] > 0

    # Cached: nothing retrains. Interrupted: a run without result/done resumes from its checkpoint.
    runs = [RunDir(r) for r in sorted((root / "runs" / "smoke").iterdir())]
    ckpt_times = [r.checkpoint_path.stat().st_mtime_ns for r in runs]
    runs[0].result_path.unlink()
    runs[0].done_path.unlink()
    reproduce(["table3"], "smoke", root / "runs", root / "report", data_dir=root / "data",
              progress=False, log=lambda *_: None)
    assert runs[1].checkpoint_path.stat().st_mtime_ns == ckpt_times[1]
    assert runs[0].result_path.is_file()

    result = CliRunner().invoke(cli, ["report", "--profile", "smoke", "--out", str(report)])
    assert result.exit_code == 0, result.output
    html = (report / "report.html").read_text()
    assert "<table" in html and "data:image/png;base64," in html

    _search_reads_the_runs_own_evaluation(root)


def test_unknown_target_and_profile_are_user_errors():
    result = CliRunner().invoke(cli, ["reproduce", "tabel3"])
    assert result.exit_code == 2
    from harness.errors import HarnessError

    with pytest.raises(HarnessError, match="did you mean 'table3'"):
        spec_module.get_experiment("tabel3")


def test_reproduce_skips_a_locked_run_and_comes_back_to_it(monkeypatch):
    from harness.experiments import reproduce as reproduce_module
    from harness.rundir import RunDirLocked

    specs = [spec_module.RunSpec(f"pooling/{s}", resolve_config("pooling", "smoke", sampler=s,
                                                                 seed=0))
             for s in ("uniform", "debiased")]
    calls, locked_once = [], {"debiased"}

    def fake_execute(spec, runs_root, data_dir, progress, log):
        calls.append(spec.config.sampler)
        if spec.config.sampler in locked_once:
            locked_once.discard(spec.config.sampler)
            raise RunDirLocked(runs_root, 4242)
        log("trained")
        return {"config_hash": spec.config.hash()}

    monkeypatch.setattr(reproduce_module, "execute", fake_execute)
    lines = []
    results = reproduce_module.execute_all(list(reversed(specs)), "runs", None, False,
                                           lines.append, poll_seconds=0.01)
    assert calls == ["uniform", "debiased", "debiased"]  # uniform first; the locked one later
    assert set(results) == {s.config.hash() for s in specs}
    assert any("locked by pid 4242" in line for line in lines)
    assert "run 1 of 2: trained" in lines and "run 2 of 2: trained" in lines


def test_a_changed_ground_truth_rescores_cached_runs(tiny_setup, tmp_path):
    """Predictions stand; the scores follow the table (its sha256 is part of the cache check)."""
    data_dir, runs_root, report = tiny_setup / "data", tiny_setup / "runs", tiny_setup / "report"
    reproduce(["table3"], "smoke", runs_root, report, data_dir=data_dir, progress=False,
              log=lambda _m: None)
    first = json.loads((report / "runs.json").read_text())
    table = data_dir / "pooling-fmnist" / "pooling-fmnist.csv"
    frame = pd.read_csv(table, dtype={"key": str})
    frame["accuracy"] = frame["accuracy"].to_numpy()[::-1]  # a different ranking
    frame.to_csv(table, index=False)
    lines = []
    reproduce(["table3"], "smoke", runs_root, report, data_dir=data_dir, progress=False,
              log=lines.append)
    second = json.loads((report / "runs.json").read_text())
    assert any("rescore" in line for line in lines)
    before = {r["config_hash"]: r for r in first}
    for r in second:
        old = before[r["config_hash"]]
        assert r["ground_truth"]["sha256"] != old["ground_truth"]["sha256"]
        assert r["metrics"]["kendall_tau"]["value"] != old["metrics"]["kendall_tau"]["value"]
        assert r["train_seconds"] == old["train_seconds"]


def test_reproduce_seeds_runs_only_the_pilot_seeds_of_the_design(monkeypatch, tmp_path):
    from harness.experiments import reproduce as reproduce_module

    executed = []

    def fake_execute_all(specs, runs_root, data_dir, progress, log):
        executed.extend(specs)
        raise SystemExit(0)  # stop before archiving: only the selection is under test

    monkeypatch.setattr(reproduce_module, "execute_all", fake_execute_all)
    with pytest.raises(SystemExit):
        reproduce_module.reproduce(["table3"], "cpu", tmp_path / "runs", tmp_path / "out",
                                   seeds=(0, 1))
    design = spec_module.runs_for("table3", "cpu")
    assert {s.config.seed for s in executed} == {0, 1}
    assert len(executed) == sum(s.config.seed in (0, 1) for s in design)
    assert len(executed) < len(design)  # the design has more seeds than the pilot
    # Same configs as the full design's runs of those seeds: the pilot's runs are reused.
    assert {s.config.hash() for s in executed} <= {s.config.hash() for s in design}


@pytest.mark.parametrize("profile, threads, expected", [("cpu", None, 1), ("cpu", 2, 2),
                                                        ("smoke", 1, 1)])
def test_reproduce_bounds_its_own_threads(monkeypatch, tmp_path, profile, threads, expected):
    """Evaluation and search of cached runs run in the reproduce process itself: it takes
    --threads, else the runs' own count (the cpu profile's 1), never torch's default."""
    import torch

    from harness.experiments import reproduce as reproduce_module

    seen = []

    def fake_execute_all(specs, runs_root, data_dir, progress, log):
        seen.append(torch.get_num_threads())
        raise SystemExit(0)

    monkeypatch.setattr(reproduce_module, "execute_all", fake_execute_all)
    saved = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with pytest.raises(SystemExit):
            reproduce_module.reproduce(["table3"], profile, tmp_path / "runs", tmp_path / "out",
                                       threads=threads)
    finally:
        torch.set_num_threads(saved)
    assert seen == [expected]


def test_nb201_experiment_runs_every_sampler_per_dataset():
    from harness.experiments.spec import NB201_SAMPLERS

    paper = spec_module.runs_for("nb201", "paper")
    assert {(s.benchmark, s.config.dataset) for s in paper} == {
        ("nb201-cifar10", "cifar10"), ("nb201-cifar100", "cifar100"),
        ("nb201-imagenet16", "imagenet16-120")}
    assert {s.config.sampler for s in paper} == set(NB201_SAMPLERS) and len(paper) == 45
    cpu = spec_module.runs_for("nb201", "cpu")
    assert {s.benchmark for s in cpu} == {"nb201-fmnist"} and len(cpu) == 15
    assert len({s.label for s in cpu}) == 5  # one label per sampler: seeds aggregate


def test_only_samplers_with_a_uniform_warmup_fork():
    from harness.samplers import resolve_sampler_options, sampler_forks_from_uniform

    table3 = {s.config.sampler: s.config.sampler_options
              for s in spec_module.runs_for("table3", "cpu")}
    assert sampler_forks_from_uniform("debiased", table3["debiased"])
    for sampler in ("fairnas", "debiased-online"):
        assert not sampler_forks_from_uniform(sampler, table3[sampler])
    assert not sampler_forks_from_uniform("pada", resolve_sampler_options("pada", {}))
    tracking = spec_module.runs_for("table6", "cpu")[0].config
    assert not sampler_forks_from_uniform("debiased", tracking.sampler_options)


def _search_reads_the_runs_own_evaluation(root):
    """The search table answers full scores from the run's evaluation cache (its predictions):
    the same picks, scores and truth as evaluating again, each read still spent from the budget."""
    from harness.experiments.search_table import search_runs

    results = [{**r, "run_dir": str(root / "runs" / "smoke" / Path(r["run_dir"]).name)}
               for r in json.loads((root / "report" / "runs.json").read_text())]
    reused = search_runs(results, "smoke", root / "data")
    for result in results:  # forget every evaluation: the search computes them all
        cache = RunDir(result["run_dir"]).eval_cache_path("*")  # every evaluation's cache file
        for path in cache.parent.glob(cache.name):
            path.unlink()
    fresh = search_runs(results, "smoke", root / "data")
    keep = ["arm", "seed", "strategy", "picked", "supernet_score", "truth_accuracy",
            "truth_rank", "evaluations", "batch_evaluations"]
    assert [{k: r[k] for k in keep} for r in reused] == [{k: r[k] for k in keep} for r in fresh]
    full = [r for r in reused if r["strategy"] != "bse"]
    # Every full score of random and evolutionary search was in the cache (36 networks scored).
    assert all(r["evaluations_reused"] == r["evaluations"] > 0 for r in full)
    assert all(r["evaluations_reused"] == 0 for r in fresh)
