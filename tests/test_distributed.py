"""Data-parallel supernet training (torchrun, gloo on CPU, 2 processes): the ranks agree on every
draw, 2 ranks at per-rank batch B/2 train the weights of 1 rank at batch B, a killed rank stops
the job and --resume then finishes exactly as an uninterrupted job, and only rank 0 writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.data.loaders import TensorImageDataset
from harness.rundir import FollowerRunDir, RunDir

# A pooling supernet without BatchNorm (norm=none): its step gradient does not depend on how a
# batch is split, so 1 and 2 processes must give the same weights up to float rounding.
TRAIN = ["train", "--space", "pooling", "--profile", "smoke", "--epochs", "3",
         "--warmup-epochs", "1", "--steps-per-epoch", "4", "--batch-size", "32",
         "--net-option", "norm=none", "--threads", "1", "--quiet"]


def harness(args: list[str], nproc: int = 1, env: dict | None = None,
            timeout: int = 420) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    if nproc == 1:
        cmd = [sys.executable, "-m", "harness", *args]
    else:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", str(nproc), "-m", "harness", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=full_env, timeout=timeout)


def model_state(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(RunDir(run).checkpoint_path, map_location="cpu",
                      weights_only=False)["model"]


def sampler_counts(run: Path) -> list:
    return RunDir(run).read_done()["sampling_counts"]


@pytest.fixture(scope="module")
def two_rank_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp") / "two"
    done = harness([*TRAIN, "--sampler", "debiased", "--out", str(out)], nproc=2)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


def test_two_ranks_train_the_weights_of_one_rank_at_the_global_batch(two_rank_run, tmp_path):
    one = tmp_path / "one"
    done = harness([*TRAIN, "--sampler", "debiased", "--out", str(one)])
    assert done.returncode == 0, done.stderr[-3000:]
    config = RunDir(two_rank_run).read_config()["config"]
    assert config["world_size"] == 2 and config["batch_size"] == 32
    assert RunDir(one).read_config()["config"]["world_size"] == 1
    # The same draws (sharded density recompute included), then the same weights.
    assert sampler_counts(one) == sampler_counts(two_rank_run)
    a, b = model_state(one), model_state(two_rank_run)
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst < 1e-4, f"largest weight difference {worst}"
    changed = max(float(a[k].float().abs().max()) for k in a)
    assert changed > 0


def test_only_rank_zero_writes(two_rank_run, tmp_path):
    # One log line and one snapshot per epoch: a second writer would have doubled them. Every
    # line is parsed (read_log would forgive a cut last line, which a second writer can leave).
    log = [json.loads(line) for line in RunDir(two_rank_run).log_path.read_text().splitlines()]
    assert [r["epoch"] for r in log] == [0, 1, 2]
    # The epoch totals are over both ranks' halves: 4 steps of 32 images.
    assert all(r["step"] == 4 * (r["epoch"] + 1) for r in log)
    follower = FollowerRunDir(tmp_path / "follower")
    for name in FollowerRunDir.WRITES:
        method = getattr(follower, name)
        method(*([{}] if name in ("write_config", "append_log", "write_audit", "write_done",
                                  "write_result") else
                 [0, {}] if name == "write_snapshot" else [None] if name in (
                     "truncate_log", "remove_snapshots_after") else []))
    assert not (tmp_path / "follower").exists()


def test_a_killed_rank_stops_the_job_and_resume_matches_an_uninterrupted_run(tmp_path):
    uninterrupted, killed = tmp_path / "whole", tmp_path / "killed"
    args = [*TRAIN, "--sampler", "uniform"]
    whole = harness([*args, "--out", str(uninterrupted)], nproc=2)
    assert whole.returncode == 0, whole.stderr[-3000:]
    # Rank 1 dies at global step 6 (epoch 2 of 3): the job must fail, not hang or succeed.
    dead = harness([*args, "--out", str(killed)], nproc=2,
                   env={"HARNESS_TEST_KILL_AT_STEP": "6", "HARNESS_TEST_KILL_RANK": "1"})
    assert dead.returncode != 0
    assert not RunDir(killed).is_done()
    resumed = harness([*args, "--out", str(killed), "--resume"], nproc=2)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    a, b = model_state(uninterrupted), model_state(killed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    # A different world size is refused with one line, exit 2.
    other = harness([*args, "--out", str(killed), "--resume"])
    assert other.returncode == 2
    assert "world_size: 2 -> 1" in other.stderr and "Traceback" not in other.stderr


def _draw_check(rank: int, world: int, port: int, keys: list, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port),
                       "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    from harness.train import distributed

    d = distributed.init("cpu", world)
    results = []
    for step, key in enumerate(keys[rank]):
        try:
            distributed.check_same_draw(d, [key], step)
            results.append("same")
        except distributed.RanksDiverged as exc:
            results.append(str(exc))
            break
    Path(out, f"rank{rank}.json").write_text(json.dumps(results))
    distributed.shutdown(d)


def test_a_draw_that_differs_between_ranks_stops_the_run(tmp_path):
    import socket

    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    keys = [["a", "b", "c"], ["a", "b", "x"]]
    mp.spawn(_draw_check, args=(2, port, keys, str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        results = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert results[:2] == ["same", "same"]
        assert "drew different architectures at step 2" in results[2]


def test_a_rank_reads_its_slice_of_the_global_batch_augmented_as_the_whole():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (40, 1, 8, 8), generator=g, dtype=torch.uint8)
    data = TensorImageDataset(images, torch.arange(40) % 10, [0.5], [0.25], 10, augment=True,
                              crop_padding=2)
    positions = torch.randperm(40, generator=g)[:16]
    whole_x, whole_y = data.get_batch(positions, torch.Generator().manual_seed(3))
    parts = [data.get_batch(positions, torch.Generator().manual_seed(3), shard=(r, 2))
             for r in (0, 1)]
    assert torch.equal(torch.cat([p[0] for p in parts]), whole_x)
    assert torch.equal(torch.cat([p[1] for p in parts]), whole_y)
    with pytest.raises(ValueError, match="does not split evenly"):
        data.get_batch(positions[:15], torch.Generator().manual_seed(3), shard=(0, 2))


def test_data_parallel_refusals(tmp_path):
    odd_batch = [a if a != "32" else "33" for a in TRAIN]
    odd = harness([*odd_batch, "--out", str(tmp_path / "odd")], nproc=2, timeout=200)
    assert odd.returncode != 0 and "does not split evenly over 2 processes" in odd.stderr
    sync = harness([*TRAIN, "--sync-bn", "--out", str(tmp_path / "sync")])
    assert sync.returncode == 2 and "--sync-bn needs CUDA" in sync.stderr
    assert not (tmp_path / "sync").exists() and not (tmp_path / "odd").exists()
