"""The runner: config and provenance, resume after a real SIGKILL, NaN handling, evaluation."""

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
from harness.rundir import RunDir
from harness.train.checkpoint import load_checkpoint
from harness.train.config import RunConfig, resolve_config
from harness.train.runner import TrainingDiverged, train_run

TINY = ["--space", "pooling", "--profile", "smoke", "--subset", "512", "--resize", "16",
        "--width-mult", "0.25", "--epochs", "3", "--batch-size", "32", "--threads", "1", "--quiet"]


def cli(*args, env=None, check=True):
    return subprocess.run([sys.executable, "-m", "harness", *map(str, args)], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, check=check)


def model_state(run_dir: Path) -> dict:
    return load_checkpoint(RunDir(run_dir).checkpoint_path)["model"]


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_equals_uninterrupted(tmp_path):
    full, killed = tmp_path / "full", tmp_path / "killed"
    cli("train", *TINY, "--sampler", "uniform", "--seed", "3", "--out", full)

    # 8 steps per epoch (256 supernet-train images / 32): step 12 is the middle of epoch 2.
    proc = subprocess.Popen([sys.executable, "-m", "harness", "train", *TINY, "--seed", "3",
                             "--out", str(killed)],
                            env={**os.environ, "HARNESS_TEST_PAUSE_AT_STEP": "12"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (killed / "paused").exists():
        assert proc.poll() is None, "run ended before reaching the pause point"
        assert time.time() < deadline, "run never reached the pause point"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert load_checkpoint(RunDir(killed).checkpoint_path)["epoch"] == 0  # epoch 2 was cut
    assert not RunDir(killed).is_done()

    cli("train", *TINY, "--seed", "3", "--out", killed, "--resume")
    a, b = model_state(full), model_state(killed)
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name

    for run in (full, killed):
        cli("evaluate", run, "--archs", "all", "--out", RunDir(run).predictions_path, "--quiet")
    pa, pb = (pd.read_csv(RunDir(run).predictions_path) for run in (full, killed))
    pd.testing.assert_frame_equal(pa, pb, check_exact=True)
    assert len(pa) == 36
    # Every line must parse: read_log would forgive a line the kill cut and resume left behind.
    log = [json.loads(x) for x in RunDir(killed).log_path.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]


def test_run_directory_records_config_version_commit(tmp_path):
    cfg = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=1,
                         batch_size=32, steps_per_epoch=2)
    train_run(cfg, tmp_path / "run", progress=False)
    record = RunDir(tmp_path / "run").read_config()
    assert RunConfig.from_dict(record["config"]) == cfg
    assert record["config_hash"] == cfg.hash()
    assert record["harness_version"]
    assert "git_commit" in record and "torch" in record
    state = load_checkpoint(RunDir(tmp_path / "run").checkpoint_path)
    for part in ("model", "optimizer", "scheduler", "sampler", "rng", "epoch", "global_step"):
        assert part in state
    with pytest.raises(HarnessError, match="--resume"):
        train_run(cfg, tmp_path / "run", progress=False)
    with pytest.raises(HarnessError, match="another config"):
        train_run(cfg.replace(seed=9), tmp_path / "run", progress=False)


def test_nan_loss_stops_with_clear_message_and_keeps_last_checkpoint(tmp_path):
    cfg = resolve_config("pooling", "smoke", subset=256, resize=16, width_mult=0.25, epochs=2,
                         batch_size=32, steps_per_epoch=2, lr=1e30, grad_clip=None)
    run_dir = tmp_path / "run"
    with pytest.raises(TrainingDiverged, match="non-finite") as raised:
        train_run(cfg, run_dir, progress=False)
    ckpt = RunDir(run_dir).checkpoint_path
    if ckpt.exists():  # diverged after the first epoch: the checkpoint holds finite weights
        assert "last good checkpoint" in str(raised.value)
        state = load_checkpoint(ckpt)
        assert all(torch.isfinite(t).all() for t in state["model"].values() if t.is_floating_point())
    else:  # diverged before any checkpoint: it says so, and leaves nothing behind
        assert "no checkpoint was written" in str(raised.value)
        assert not run_dir.exists()
    assert not RunDir(run_dir).is_done()
    assert not list(run_dir.rglob("*.tmp"))


def test_nan_loss_cli_is_one_line_exit_2(tmp_path):
    out = cli("train", "--space", "pooling", "--profile", "smoke", "--subset", "256", "--resize", "16",
              "--width-mult", "0.25", "--epochs", "1", "--warmup-epochs", "0", "--batch-size",
              "32", "--lr", "1e30", "--steps-per-epoch", "3", "--quiet", "--out", tmp_path / "run",
              check=False)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "loss became" in out.stderr
    assert "Traceback" not in out.stderr
    # diverged in its first epoch: no checkpoint to keep, so it says so and leaves nothing
    assert "nothing is kept" in out.stderr and not (tmp_path / "run").exists()


def test_unknown_sampler_and_profile_are_user_errors(tmp_path):
    out = cli("train", "--space", "pooling", "--sampler", "unifrom", "--out", tmp_path / "r", check=False)
    assert out.returncode == 2 and "did you mean 'uniform'" in out.stderr
    out = cli("evaluate", tmp_path / "missing", "--out", tmp_path / "p.csv", check=False)
    assert out.returncode == 2 and "not a run directory" in out.stderr


def test_unused_parameters_do_not_move_by_default(tmp_path):
    # nb-macro: a path leaves most candidate ops unused; with momentum and weight decay they must
    # stay bit-identical unless --unused-params-move is set.
    from harness.train.setup import build_run

    base = resolve_config("nb-macro", "smoke", subset=256, resize=16, width_mult=0.25, epochs=1,
                          batch_size=32, steps_per_epoch=3)
    for move in (False, True):
        cfg = base.replace(unused_params_move=move)
        before = {k: v.clone() for k, v in build_run(cfg).supernet.state_dict().items()}
        train_run(cfg, tmp_path / f"run{move}", progress=False)
        after = load_checkpoint(RunDir(tmp_path / f"run{move}").checkpoint_path)["model"]
        unchanged = [k for k in before if k.endswith("weight") and torch.equal(before[k], after[k])]
        if move:
            assert not unchanged
        else:
            assert unchanged, "some candidate op should have stayed untouched"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_amp_channels_last_run_trains_and_evaluates(tmp_path):
    from harness.data.formats import write_synthetic_fashion_mnist
    from harness.evaluate import evaluate_run

    root = write_synthetic_fashion_mnist(tmp_path / "data", 1024, 256)  # no dataset needed
    cfg = resolve_config("nb-macro", "smoke", subset=512, resize=32, width_mult=0.25, epochs=1,
                         batch_size=64, steps_per_epoch=4, device="cuda", amp=True,
                         channels_last=True, data_root=str(root))
    train_run(cfg, tmp_path / "run", progress=False)
    state = load_checkpoint(RunDir(tmp_path / "run").checkpoint_path)
    assert state["scaler"] is not None
    pred = evaluate_run(tmp_path / "run", "sample:5", progress=False)
    assert len(pred) == 5 and pred["supernet_accuracy"].between(0, 100).all()
