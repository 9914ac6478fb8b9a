"""The supernet runner: one RunConfig -> one run directory.

Run directory layout:
  config.json        resolved config + provenance (package version, git commit, torch)
  log.jsonl          one JSON line per epoch (and per logged step)
  checkpoints/last.pt  atomic, written at the end of every epoch
  snapshots/epoch_XXXX.json  what the sampler recorded at an epoch boundary (densities, ...)
  done.json          written when the last epoch finished

Determinism: every epoch draws its data order from a generator seeded by (seed, epoch) and the
sampler's own generator is checkpointed, so resuming from the last epoch checkpoint replays a
killed epoch exactly. On CPU a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
import math
import os
import time
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.io import atomic_write_json
from harness.train.checkpoint import load_checkpoint, restore_rng_states, save_checkpoint
from harness.train.config import RunConfig, provenance
from harness.train.setup import RunSetup, build_run


class TrainingDiverged(HarnessError):
    pass


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(hash((seed, epoch, stream)) & 0x7FFF_FFFF_FFFF)


def make_scheduler(optimizer, cfg: RunConfig):
    if cfg.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(cfg.epochs, 1))
    if cfg.lr_schedule == "step":
        milestones = list(cfg.lr_milestones) or [int(cfg.epochs * f) for f in (0.5, 0.75)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=milestones, gamma=0.1)
    if cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    raise HarnessError(f"unknown lr_schedule '{cfg.lr_schedule}'; use cosine, step or constant")


def write_config(run_dir: Path, cfg: RunConfig) -> None:
    atomic_write_json(run_dir / "config.json", {"config": cfg.to_dict(), "config_hash": cfg.hash(),
                                                **provenance()})


def read_config(run_dir: Path) -> RunConfig:
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise HarnessError(f"{path}: not a run directory (no config.json); train one with nas-harness train")
    try:
        return RunConfig.from_dict(json.loads(path.read_text())["config"])
    except (json.JSONDecodeError, KeyError):
        raise HarnessError(f"{path}: malformed run config; delete the run directory and retrain") from None


def append_log(run_dir: Path, record: dict) -> None:
    with open(run_dir / "log.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")
        handle.flush()


def truncate_log(run_dir: Path, after_epoch: int) -> None:
    """Drop log lines of epochs after the checkpoint, so a resumed log equals an uninterrupted one."""
    path = run_dir / "log.jsonl"
    if not path.is_file():
        return
    kept = [line for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("epoch", -1) <= after_epoch]
    path.write_text("".join(line + "\n" for line in kept))


def train_run(cfg: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
              stop_after_steps: int | None = None) -> Path:
    """Train the supernet of `cfg` into `run_dir`; with `resume`, continue from the last checkpoint."""
    run_dir = Path(run_dir)
    ckpt_path = run_dir / "checkpoints" / "last.pt"
    if (run_dir / "config.json").is_file():
        existing = read_config(run_dir)
        if existing.hash() != cfg.hash():
            if not resume:
                raise HarnessError(f"{run_dir}: holds a run with another config "
                                   f"({existing.hash()} != {cfg.hash()}); choose a new --out")
            cfg = existing.replace(device=cfg.device, num_threads=cfg.num_threads)
        elif not resume and ckpt_path.is_file():
            raise HarnessError(f"{run_dir}: already holds this run; pass --resume to continue it")
    elif resume:
        raise HarnessError(f"{run_dir}: nothing to resume (no config.json); drop --resume")
    run_dir.mkdir(parents=True, exist_ok=True)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    setup = build_run(cfg)
    write_config(run_dir, cfg)

    start_epoch, global_step = 0, 0
    if resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        setup.supernet.load_state_dict(state["model"])
        setup.optimizer.load_state_dict(state["optimizer"])
        setup.scheduler.load_state_dict(state["scheduler"])
        setup.sampler.load_state_dict(state["sampler"])
        if setup.scaler is not None and state.get("scaler"):
            setup.scaler.load_state_dict(state["scaler"])
        restore_rng_states(state["rng"])
        start_epoch, global_step = state["epoch"] + 1, state["global_step"]
        truncate_log(run_dir, state["epoch"])
    elif not resume:
        (run_dir / "log.jsonl").unlink(missing_ok=True)

    for epoch in range(start_epoch, cfg.epochs):
        global_step = train_epoch(setup, cfg, epoch, global_step, run_dir, progress, stop_after_steps)
        snapshot = setup.sampler.on_epoch_end(epoch, setup.epoch_context(epoch, run_dir))
        if snapshot is not None:
            atomic_write_json(run_dir / "snapshots" / f"epoch_{epoch:04d}.json", snapshot)
        setup.scheduler.step()
        bad = [name for name, p in setup.supernet.named_parameters() if not torch.isfinite(p).all()]
        if bad:
            raise TrainingDiverged(
                f"weights became non-finite in epoch {epoch + 1} ({bad[0]}, {len(bad)} tensors); "
                f"the last good checkpoint is kept in {run_dir / 'checkpoints'}: lower --lr"
            )
        save_checkpoint(
            ckpt_path, model=setup.supernet.state_dict(), optimizer=setup.optimizer.state_dict(),
            scheduler=setup.scheduler.state_dict(), sampler=setup.sampler.state_dict(),
            scaler=setup.scaler.state_dict() if setup.scaler is not None else None,
            epoch=epoch, global_step=global_step, config_hash=cfg.hash(),
        )
    atomic_write_json(run_dir / "audit.json", setup.sampler.audit())
    atomic_write_json(run_dir / "done.json", {"epochs": cfg.epochs, "global_step": global_step,
                                              "sampling_counts": setup.sampler.counts})
    return run_dir


def train_epoch(setup: RunSetup, cfg: RunConfig, epoch: int, global_step: int, run_dir: Path,
                progress: bool, stop_after_steps: int | None) -> int:
    supernet, optimizer, sampler = setup.supernet, setup.optimizer, setup.sampler
    supernet.train()
    loader = setup.train_loader(epoch_generator(cfg.seed, epoch))
    n_steps = len(loader) if cfg.steps_per_epoch is None else min(len(loader), cfg.steps_per_epoch)
    params = [p for p in supernet.parameters() if p.requires_grad]
    autocast = (torch.autocast("cuda", dtype=torch.float16) if setup.use_amp else nullcontext())
    total_loss, total_correct, total_seen, total_paths = 0.0, 0, 0, 0
    started = time.perf_counter()
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=n_steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, disable=None)
    for index, (x, y) in enumerate(loader):
        if index >= n_steps:
            break
        if stop_after_steps is not None and global_step >= stop_after_steps:
            raise KeyboardInterrupt(f"stopped after {global_step} steps (test hook)")
        if os.environ.get("HARNESS_TEST_PAUSE_AT_STEP") == str(global_step):
            # Test hook: park mid-epoch so a test can SIGKILL the process at a known point.
            (run_dir / "paused").write_text(str(global_step))
            time.sleep(600)
        x, y = setup.to_device(x, y)
        archs = sampler.paths(global_step)
        sampler.record(archs)
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        for arch in archs:
            with autocast:
                logits = supernet(x, arch)
                # Path losses are summed, not averaged: with m paths per update (FairNAS) every
                # candidate gets the full gradient of its own path, as in FairNAS.
                loss = F.cross_entropy(logits, y)
            if not torch.isfinite(loss):
                append_log(run_dir, {"epoch": epoch, "step": global_step, "event": "nan_loss"})
                raise TrainingDiverged(
                    f"loss became {loss.item()} at epoch {epoch + 1}, step {global_step} "
                    f"(architecture {setup.space.key(arch)}); the last good checkpoint is kept in "
                    f"{run_dir / 'checkpoints'}: lower --lr or enable gradient clipping"
                )
            if setup.scaler is not None:
                setup.scaler.scale(loss).backward()
            else:
                loss.backward()
            if sampler.wants_gradients(global_step):
                sampler.observe_gradients(global_step, arch, supernet)
            step_loss += loss.item()
            total_correct += int((logits.argmax(1) == y).sum())
        if cfg.unused_params_move:
            # Off-path parameters take weight decay and momentum like in a dense optimizer.
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
        if setup.scaler is not None:
            setup.scaler.unscale_(optimizer)
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], cfg.grad_clip)
        if setup.scaler is not None:
            setup.scaler.step(optimizer)
            setup.scaler.update()
        else:
            optimizer.step()
        total_loss += step_loss / len(archs) * len(y)  # mean loss over the step's paths
        total_seen += len(y)
        total_paths += len(y) * len(archs)
        global_step += 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.3f}")
    if bar is not None:
        bar.close()
    append_log(run_dir, {
        "epoch": epoch,
        "step": global_step,
        "lr": optimizer.param_groups[0]["lr"],
        "train_loss": total_loss / max(total_seen, 1),
        "train_acc": 100.0 * total_correct / max(total_paths, 1),  # over all paths of the step
        "seconds": round(time.perf_counter() - started, 3),
    })
    if not math.isfinite(total_loss):
        raise TrainingDiverged(f"non-finite loss in epoch {epoch + 1}")
    return global_step
