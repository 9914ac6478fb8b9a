"""Run directories that one process owns: the lock, kills at any moment, resume that refuses what
it cannot honour, restarts, evaluation checks, and browsing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

from harness.errors import HarnessError
from harness.rundir import RunDir, RunDirLocked
from harness.train.checkpoint import load_checkpoint
from harness.train.config import resolve_config
from harness.train.runner import train_run

TINY = ["--space", "pooling", "--profile", "smoke", "--subset", "512", "--resize", "16",
        "--width-mult", "0.25", "--epochs", "3", "--batch-size", "32", "--threads", "1", "--quiet",
        "--seed", "3"]


def cli(*args, env=None, check=True):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=check)


def park(out: Path, where: str, *extra) -> subprocess.Popen:
    """Start `train` parked at `where` (a step or "startup") and wait until it is there."""
    proc = subprocess.Popen([sys.executable, "-m", "harness", "train", *TINY, *extra,
                             "--out", str(out)],
                            env={**os.environ, "HARNESS_TEST_PAUSE_AT_STEP": where},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (out / "paused").exists():
        assert proc.poll() is None, "run ended before reaching the pause point"
        assert time.time() < deadline, "run never reached the pause point"
        time.sleep(0.1)
    return proc


def weights(run: Path) -> dict:
    return load_checkpoint(RunDir(run).checkpoint_path)["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("full") / "run"
    cli("train", *TINY, "--out", out)
    return out


def test_a_second_process_on_the_same_run_is_refused_with_the_holders_pid(tmp_path):
    out = tmp_path / "run"
    proc = park(out, "5")
    try:
        second = cli("train", *TINY, "--out", out, "--resume", check=False)
        assert second.returncode == 2
        assert second.stderr.strip().count("\n") == 0
        assert f"in use by pid {proc.pid}" in second.stderr and "Traceback" not in second.stderr
        evaluate = cli("evaluate", out, "--out", tmp_path / "p.csv", check=False)
        assert evaluate.returncode == 2 and f"pid {proc.pid}" in evaluate.stderr
        assert RunDir(out).state() == "locked" and RunDir(out).holder_pid() == proc.pid
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    assert RunDir(out).holder_pid() is None  # the kill freed the lock; no cleanup step


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["startup", "0", "8", "12"])
def test_sigkill_at_any_moment_then_the_same_resume_command_finishes_bit_identically(
        tmp_path, uninterrupted, moment):
    """8 steps per epoch: startup (lock held, nothing written), step 0 (config written, no
    checkpoint), step 8 (first step after the first checkpoint), step 12 (mid-epoch 2)."""
    out = tmp_path / "run"
    proc = park(out, moment)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    again = cli("train", *TINY, "--out", out, "--resume")  # the requeued command, unchanged
    if moment in ("startup", "0"):
        assert "nothing to resume" in again.stderr and "starting the run" in again.stderr
    a, b = weights(uninterrupted), weights(out)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Every line must parse: read_log would forgive a line the kill cut and resume left behind.
    log = [json.loads(x) for x in RunDir(out).log_path.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    done = RunDir(out).read_done()
    assert done is not None and done == RunDir(uninterrupted).read_done()


def test_resume_with_changed_settings_exits_2_listing_them(tmp_path):
    out = tmp_path / "run"
    cli("train", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--out", out)
    changed = cli("train", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--lr", "0.2",
                  "--sampler", "fairnas", "--out", out, "--resume", check=False)
    assert changed.returncode == 2 and changed.stderr.strip().count("\n") == 0
    assert "lr: 0.05 -> 0.2" in changed.stderr and "sampler: 'uniform' -> 'fairnas'" in changed.stderr
    # settings that do not change what is computed are taken from the command
    same = cli("train", *TINY, "--epochs", "1", "--steps-per-epoch", "2", "--threads", "2",
               "--out", out, "--resume")
    assert same.returncode == 0 and RunDir(out).read_config()["config"]["num_threads"] == 2


def test_restart_removes_the_done_marker_and_old_log_lines(tmp_path):
    cfg = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=1,
                         batch_size=32, steps_per_epoch=2)
    out = tmp_path / "run"
    train_run(cfg, out, progress=False)
    rd = RunDir(out)
    rd.checkpoint_path.unlink()  # "delete the checkpoint to restart"
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, out, progress=False, stop_after_steps=1)
    assert not rd.is_done()  # a stale done marker would let evaluate score a fresh checkpoint
    assert rd.read_log() == []  # the old epoch's lines are gone, not appended again
    train_run(cfg, out, resume=True, progress=False)
    assert [r["epoch"] for r in rd.read_log()] == [0] and rd.is_done()


def test_evaluate_refuses_unfinished_and_mixed_runs(tmp_path):
    cfg = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=2,
                         batch_size=32, steps_per_epoch=2, probe_size=64)
    out = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg, out, progress=False, stop_after_steps=3)  # one epoch of two done
    refused = cli("evaluate", out, "--archs", "distinct", "--out", tmp_path / "p.csv", check=False)
    assert refused.returncode == 2 and "has not finished (epoch 1 of 2)" in refused.stderr
    assert not (tmp_path / "p.csv").exists()
    allowed = cli("evaluate", out, "--archs", "distinct", "--out", tmp_path / "p.csv",
                  "--allow-unfinished", "--quiet")
    assert "UNFINISHED run: checkpoint of epoch 1 of 2" in allowed.stdout
    assert len(pd.read_csv(tmp_path / "p.csv")) == 36
    train_run(cfg, out, resume=True, progress=False)
    # another run's config in the directory: the checkpoint no longer belongs to it
    record = RunDir(out).read_config()
    record["config"]["lr"] = 0.5
    record["config_hash"] = "000000000000"
    RunDir(out).write_config(record)
    mixed = cli("evaluate", out, "--out", tmp_path / "q.csv", check=False)
    assert mixed.returncode == 2 and "mixes two runs" in mixed.stderr


def test_lock_is_reentrant_within_a_process_and_exclusive_across(tmp_path):
    rd = RunDir(tmp_path / "run")
    with rd.lock():
        with RunDir(tmp_path / "run").lock():  # nested, e.g. reproduce -> train
            assert rd.holder_pid() == os.getpid()
        code = ("from harness.rundir import RunDir, RunDirLocked\n"
                "import sys\n"
                f"try:\n    RunDir({str(tmp_path / 'run')!r}).lock().__enter__()\n"
                "except RunDirLocked as e:\n    print(e.pid); sys.exit(3)\n")
        other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert other.returncode == 3 and other.stdout.strip() == str(os.getpid())
    assert rd.holder_pid() is None
    assert issubclass(RunDirLocked, HarnessError)


def test_runs_list_and_show(tmp_path):
    cfg = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=1,
                         batch_size=32, steps_per_epoch=2)
    train_run(cfg, tmp_path / "runs" / "a", progress=False)
    with pytest.raises(KeyboardInterrupt):
        train_run(cfg.replace(seed=1, epochs=2), tmp_path / "runs" / "b", progress=False,
                  stop_after_steps=3)
    listed = json.loads(cli("runs", "list", "--runs-dir", tmp_path / "runs", "--json").stdout)
    states = {Path(r["run"]).name: (r["state"], r["epoch"], r["epochs"], r["seed"]) for r in listed}
    assert states == {"a": ("done", 1, 1, 0), "b": ("partial", 1, 2, 1)}
    text = cli("runs", "list", "--runs-dir", tmp_path / "runs").stdout
    assert "done" in text and "partial" in text
    shown = json.loads(cli("runs", "show", tmp_path / "runs" / "a", "--json").stdout)
    assert shown["config"]["seed"] == 0 and shown["provenance"]["config_hash"] == cfg.hash()
    assert shown["audit"]["n_draws"] == 2


def test_paired_runs_share_their_warmup_and_a_fork_equals_the_full_run(tmp_path):
    """Common random numbers: seed s of every sampler draws like uniform in warm-up, from the
    same weights, data order and generators, so the debiased run forked from the uniform run's
    warm-up checkpoint ends bit-identical to the debiased run trained from scratch."""
    from harness.train.runner import fork_run

    base = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=4,
                          warmup_epochs=3, batch_size=32, steps_per_epoch=2, probe_size=32,
                          seed=5)
    uniform = base.replace(keep_checkpoints=(1,))
    debiased = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25,
                              epochs=4, warmup_epochs=3, batch_size=32, steps_per_epoch=2,
                              probe_size=32, seed=5, sampler="debiased",
                              sampler_options={"tau": 0.1, "figure_archs": 0,
                                               "track_density_during_warmup": False})
    train_run(uniform, tmp_path / "uniform", progress=False)
    train_run(debiased, tmp_path / "scratch", progress=False)
    warm_u = load_checkpoint(RunDir(tmp_path / "uniform").epoch_checkpoint_path(1))["model"]
    assert uniform.hash() == base.hash()  # keeping a checkpoint does not change the run
    assert fork_run(tmp_path / "uniform", 1, debiased, tmp_path / "forked")
    train_run(debiased, tmp_path / "forked", resume=True, progress=False)
    a, b = weights(tmp_path / "scratch"), weights(tmp_path / "forked")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], warm_u[k]) for k in a)  # training went on after the fork
    done_a = RunDir(tmp_path / "scratch").read_done()
    done_b = RunDir(tmp_path / "forked").read_done()
    assert done_a is not None and done_a == done_b
    log = RunDir(tmp_path / "forked").read_log()
    assert [r["epoch"] for r in log] == [0, 1, 2, 3] and "forked_from" in log[0]
    with pytest.raises(HarnessError, match="configs differ"):
        fork_run(tmp_path / "uniform", 1, debiased.replace(lr=0.2), tmp_path / "other")
