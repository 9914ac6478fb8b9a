"""The noise study's pieces on a tiny real run: per-image scores reproduce the evaluation's
accuracies, a one-ulp perturbation changes the run and nothing else, and the checkpoint average
is the mean of the kept checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.rundir import RunDir
from harness.train.config import RunConfig
from harness.train.runner import train_run

BASE = dict(space="pooling", benchmark="pooling-fmnist", dataset="fashion-mnist", subset=512,
            resize=8, width_mult=0.25, epochs=3, batch_size=32, eval_batch_size=64,
            eval_images=128, keep_checkpoints=(1, 2), num_threads=1)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, data_dir):
    import os

    os.environ["HARNESS_DATA_DIR"] = str(data_dir)
    root = tmp_path_factory.mktemp("noise")
    base = train_run(RunConfig(**BASE), root / "base", progress=False)
    nudged = train_run(RunConfig(**BASE, init_perturbation=1), root / "nudged", progress=False)
    return base, nudged


def test_per_image_scores_reproduce_the_evaluation(runs):
    from harness.analysis.scoring import benchmark_archs
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run
    from harness.experiments.noise import score_images
    from harness.spaces import get_space

    base, _ = runs
    archs = benchmark_archs(load_benchmark("pooling-fmnist"), get_space("pooling"))
    correct, keys, _ = score_images(base, archs, "batch")
    assert correct.shape == (36, 256)  # the whole supernet-validation split
    pred = evaluate_run(base, archs, None, progress=False).set_index("key")
    # the first eval_images images, in the same batches, are exactly the evaluation's
    ours = 100.0 * correct[:, :128].mean(axis=1)
    np.testing.assert_allclose(ours, pred.loc[keys, "supernet_accuracy"].to_numpy())
    again, _, _ = score_images(base, archs, "batch")  # cached
    assert (again == correct).all()


def test_one_ulp_changes_the_start_and_the_hash_only_when_set(runs):
    from harness.train.checkpoint import load_checkpoint
    from harness.train.setup import data_config, init_supernet, net_config, nudge_by_one_ulp

    cfg = RunConfig(**BASE)
    assert cfg.hash() == RunConfig(**BASE, init_perturbation=0).hash()
    assert cfg.hash() != RunConfig(**BASE, init_perturbation=1).hash()
    net = init_supernet(cfg.space, net_config(cfg, data_config(cfg)), cfg.seed)
    before = [p.detach().clone() for p in net.parameters()]
    nudge_by_one_ulp(net, torch.Generator().manual_seed(1))
    for old, new in zip(before, net.parameters()):
        moved = torch.nextafter(old, torch.full_like(old, float("inf"))) == new
        moved |= torch.nextafter(old, torch.full_like(old, float("-inf"))) == new
        assert moved.all() and (old != new).all()
    base, nudged = runs
    a = load_checkpoint(RunDir(base).checkpoint_path)["model"]
    b = load_checkpoint(RunDir(nudged).checkpoint_path)["model"]
    assert any(not torch.equal(a[k], b[k]) for k in a if torch.is_floating_point(a[k]))


def test_checkpoint_average_is_the_mean_of_the_kept_checkpoints(runs):
    from harness.train.checkpoint import load_checkpoint
    from harness.train.trained import TrainedRun

    base, _ = runs
    run = TrainedRun.open(base)
    mean = run.averaged_state(2)
    one = load_checkpoint(RunDir(base).epoch_checkpoint_path(1))["model"]
    two = load_checkpoint(RunDir(base).epoch_checkpoint_path(2))["model"]
    for name, value in mean.items():
        if torch.is_floating_point(value):
            torch.testing.assert_close(value, (one[name] + two[name]) / 2)
    with pytest.raises(Exception, match="no kept checkpoint"):
        run.averaged_state(3)


def test_a_run_set_to_average_keeps_its_last_epochs_and_is_scored_averaged(runs, tmp_path):
    """eval_average_epochs: the trainer keeps the last N epochs' checkpoints, and evaluation (and
    so the tables) scores their mean, not the last checkpoint."""
    from harness.analysis.scoring import benchmark_archs
    from harness.benchmarks import load_benchmark
    from harness.evaluate import evaluate_run
    from harness.experiments.noise import score_images
    from harness.spaces import get_space

    plain = {k: v for k, v in BASE.items() if k != "keep_checkpoints"}
    cfg = RunConfig(**plain, eval_average_epochs=2)
    assert cfg.hash() != RunConfig(**plain).hash()
    assert RunConfig(**plain).hash() == RunConfig(**plain, eval_average_epochs=0).hash()
    assert cfg.kept_epochs() == (1, 2)
    averaged = train_run(cfg, tmp_path / "averaged", progress=False)
    rd = RunDir(averaged)
    assert rd.kept_epochs() == [1, 2]
    archs = benchmark_archs(load_benchmark("pooling-fmnist"), get_space("pooling"))
    pred = evaluate_run(averaged, archs, None, progress=False).set_index("key")
    # the same training as the base run (eval settings do not touch it), so the base run's
    # per-image scores of the averaged weights are this run's evaluation
    correct, keys, _ = score_images(runs[0], archs, "average", average_over=2)
    np.testing.assert_allclose(100.0 * correct[:, :128].mean(axis=1),
                               pred.loc[keys, "supernet_accuracy"].to_numpy())
    last, _, _ = score_images(runs[0], archs, "batch")
    assert (last[:, :128] != correct[:, :128]).any()  # averaging is not the last checkpoint
