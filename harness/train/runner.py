"""The supernet runner: one RunConfig -> one run directory (layout: harness.rundir).

The run holds its directory's lock for its whole lifetime: a second process on the same directory
exits at once with "in use by pid N", and a killed holder frees it by dying.

Starting, resuming, restarting:
  * a new directory, or one whose run never reached its first checkpoint: the run starts from
    scratch (a stale done marker, log lines and snapshots are removed first); with --resume it
    says so in one line, so the same command is safe to repeat after a kill at any moment;
  * a directory with a checkpoint: --resume continues from it; without --resume it is refused;
  * a config that differs from the directory's (in any field that enters the hash) is refused,
    listing the differences: --resume never silently drops flags.

Determinism: every epoch draws its data order from a generator seeded by (seed, epoch) and the
sampler's own generator is checkpointed, so resuming from the last epoch checkpoint replays a
killed epoch exactly. On CPU a resumed run is bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

from harness.errors import HarnessError
from harness.io import atomic_torch_save, atomic_write_bytes
from harness.progress import Progress
from harness.rundir import FollowerRunDir, RunDir
from harness.train import distributed
from harness.train.checkpoint import load_checkpoint, restore_rng_states, save_checkpoint
from harness.train.config import RunConfig, config_differences, cut_warmup, provenance
from harness.train.setup import RunSetup, build_run, epoch_generator, validate_run


class TrainingDiverged(HarnessError):
    pass


def _test_pause(rd: RunDir, where: str, d: distributed.Dist = distributed.SINGLE) -> None:
    """Test hooks: park at a known point (a step number, or "startup": lock held, nothing written)
    so that a test can SIGKILL the process there; or, in a data-parallel run, SIGKILL one rank
    (HARNESS_TEST_KILL_RANK) at a step (HARNESS_TEST_KILL_AT_STEP)."""
    if os.environ.get("HARNESS_TEST_PAUSE_AT_STEP") == where and d.is_main:
        (rd.path / "paused").write_text(where)
        time.sleep(600)
    if (os.environ.get("HARNESS_TEST_KILL_AT_STEP") == where
            and os.environ.get("HARNESS_TEST_KILL_RANK") == str(d.rank)):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def config_record(cfg: RunConfig) -> dict:
    return {"config": cfg.to_dict(), "config_hash": cfg.hash(), **provenance(cfg.device)}


def read_config(run_dir: str | Path | RunDir) -> RunConfig:
    """The RunConfig recorded in a run directory."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
    record = rd.read_config()
    try:
        return RunConfig.from_dict(record["config"])
    except (TypeError, ValueError, HarnessError) as exc:
        raise HarnessError(f"{rd.config_path}: malformed run config ({exc}); delete the run "
                           "directory and retrain") from None


def _prepare(rd: RunDir, cfg: RunConfig, resume: bool, log: Callable[[str], None]
             ) -> tuple[RunConfig, bool]:
    """(the config to run, whether to resume from the checkpoint); refuses what it cannot honour."""
    if rd.has_config():
        existing = read_config(rd)
        if existing.hash() != cfg.hash():
            diffs = "; ".join(config_differences(existing, cfg))
            if resume:
                raise HarnessError(f"{rd.path}: --resume with settings that differ from the run's "
                                   f"config ({diffs}); drop them to continue the run as it was, "
                                   "or choose a new --out")
            raise HarnessError(f"{rd.path}: holds a run with another config ({diffs}); choose a "
                               "new --out")
        cfg = existing.replace(**{k: getattr(cfg, k) for k in RunConfig.UNHASHED})
        if rd.has_checkpoint():
            if not resume:
                state = "a finished run" if rd.is_done() else "a partly trained run"
                raise HarnessError(f"{rd.path}: already holds {state} of this config; pass "
                                   "--resume to continue it, or choose a new --out")
            return cfg, True
    if resume:
        log(f"nothing to resume in {rd.path} (no checkpoint yet); starting the run")
    return cfg, False


def train_run(cfg: RunConfig, run_dir: str | Path, resume: bool = False, progress: bool = True,
              stop_after_steps: int | None = None,
              log: Callable[[str], None] | None = None) -> Path:
    """Train the supernet of `cfg` into `run_dir`; with `resume`, continue from the last checkpoint.

    Under torchrun (cfg.world_size > 1) every rank calls this: rank 0 holds the lock and writes
    the directory, the others read it (harness.train.distributed)."""
    log = log or (lambda _message: None)
    validate_run(cfg)  # options and names, before any folder exists or data is loaded
    d = distributed.init(cfg.device, cfg.world_size)
    try:
        return _train_run(cfg, run_dir, resume, progress and d.is_main, stop_after_steps, log, d)
    finally:
        distributed.shutdown(d)


def _agree(d: distributed.Dist, rd: RunDir, cfg: RunConfig, resume: bool, log
           ) -> tuple[RunConfig, bool]:
    """Rank 0 decides how the run starts (_prepare); every rank gets its answer or its error."""
    outcome, error = None, None
    if d.is_main:
        try:
            prepared, from_checkpoint = _prepare(rd, cfg, resume, log)
            outcome = (prepared.to_dict(), from_checkpoint, None)
        except HarnessError as exc:
            error, outcome = exc, (None, None, str(exc))
    outcome = distributed.broadcast_object(d, outcome)
    if outcome[2] is not None:
        raise error or HarnessError(outcome[2])
    return RunConfig.from_dict(outcome[0]), outcome[1]


def _train_run(cfg: RunConfig, run_dir, resume: bool, progress: bool,
               stop_after_steps: int | None, log, d: distributed.Dist) -> Path:
    rd = RunDir(run_dir) if d.is_main else FollowerRunDir(run_dir)
    created = not rd.path.exists()
    try:
        return _train_locked(rd, cfg, resume, progress, stop_after_steps, log, d)
    except BaseException:
        # A start that was refused or failed before its first checkpoint leaves nothing behind,
        # not even the lock file: there is nothing to resume.
        if created and d.is_main and not rd.has_checkpoint():
            shutil.rmtree(rd.path, ignore_errors=True)
        raise


def _train_locked(rd, cfg: RunConfig, resume: bool, progress: bool,
                  stop_after_steps: int | None, log, d: distributed.Dist) -> Path:
    with rd.lock():
        _test_pause(rd, "startup", d)
        cfg, from_checkpoint = _agree(d, rd, cfg, resume, log)
        cfg = cfg.replace(device=distributed.device_for(cfg.device, d))
        if cfg.num_threads:
            torch.set_num_threads(cfg.num_threads)
        setup = build_run(cfg, d)
        note = cut_warmup(cfg)  # said once the run starts: a refused one prints its error only
        if note and d.is_main and not from_checkpoint:
            log(note)
        start_epoch, global_step = 0, 0
        if from_checkpoint:
            state = load_checkpoint(rd.checkpoint_path)
            if state.get("config_hash") not in (None, cfg.hash()):
                raise HarnessError(f"{rd.checkpoint_path}: belongs to config "
                                   f"{state['config_hash']}, not {cfg.hash()} of config.json; "
                                   "delete the run directory and retrain")
            setup.supernet.load_state_dict(state["model"])
            setup.optimizer.load_state_dict(state["optimizer"])
            setup.scheduler.load_state_dict(state["scheduler"])
            setup.sampler.load_state_dict(state["sampler"])
            if setup.scaler is not None and state.get("scaler"):
                setup.scaler.load_state_dict(state["scaler"])
            restore_rng_states(state["rng"])
            start_epoch, global_step = state["epoch"] + 1, state["global_step"]
            rd.truncate_log(state["epoch"])
            rd.remove_snapshots_after(state["epoch"])
        else:  # a restart: nothing of an earlier attempt survives
            rd.clear_done()
            rd.truncate_log(None)
            rd.remove_snapshots_after(None)
        rd.write_config(config_record(cfg))
        if start_epoch < cfg.epochs:
            rd.clear_done()

        steps = setup.steps_per_epoch()
        bar = Progress(cfg.epochs * steps, f"train {rd.path.name}", enabled=progress,
                       initial=start_epoch * steps)
        if start_epoch == 0:
            with bar.stage("the sampler's start-of-training work (e.g. densities)"):
                snapshot = setup.sampler.on_train_start(setup.epoch_context(-1, rd.path))
            if snapshot is not None:
                rd.write_snapshot(-1, snapshot)
        for epoch in range(start_epoch, cfg.epochs):
            global_step = train_epoch(setup, cfg, epoch, global_step, rd, bar, stop_after_steps)
            with bar.stage(f"the sampler's end of epoch {epoch + 1} (e.g. a density recompute)"):
                snapshot = setup.sampler.on_epoch_end(epoch, setup.epoch_context(epoch, rd.path))
            if snapshot is not None:
                rd.write_snapshot(epoch, snapshot)
            setup.scheduler.step()
            bad = [n for n, p in setup.supernet.named_parameters() if not torch.isfinite(p).all()]
            if bad:
                kept = (f"the last good checkpoint (epoch {epoch}) is kept in "
                        f"{rd.checkpoint_path.parent}" if rd.has_checkpoint() else
                        "no checkpoint was written before it, so nothing is kept")
                raise TrainingDiverged(
                    f"weights became non-finite in epoch {epoch + 1} ({bad[0]}, {len(bad)} "
                    f"tensors); {kept}: lower --lr")
            distributed.broadcast_buffers(d, setup.supernet)
            if d.is_main:
                save_checkpoint(
                    rd.checkpoint_path, model=setup.supernet.state_dict(),
                    optimizer=setup.optimizer.state_dict(), scheduler=setup.scheduler.state_dict(),
                    sampler=setup.sampler.state_dict(),
                    scaler=setup.scaler.state_dict() if setup.scaler is not None else None,
                    epoch=epoch, global_step=global_step, config_hash=cfg.hash(),
                )
                if epoch in cfg.kept_epochs():  # atomic: a paired run may fork from it now
                    atomic_write_bytes(rd.epoch_checkpoint_path(epoch),
                                       rd.checkpoint_path.read_bytes())
            rd.write_audit(setup.sampler.audit())
        bar.close()
        rd.write_audit(setup.sampler.audit())
        rd.write_done({"epochs": cfg.epochs, "global_step": global_step,
                       "config_hash": cfg.hash(), "sampling_counts": setup.sampler.counts})
        distributed.barrier(d)  # no rank leaves before rank 0 has written the done marker
    return rd.path


def fork_run(source: str | Path, epoch: int, cfg: RunConfig, run_dir: str | Path) -> bool:
    """Start run `cfg` in `run_dir` from another run's kept checkpoint of `epoch`: the same
    weights, optimizer, schedule, RNG states and sampler generator (common random numbers), so a
    paired run need not train the shared warm-up again. The source must hold the same config up
    to the sampler and its options, and `epoch` must lie in the warm-up of both; only a sampler
    whose warm-up is exactly uniform's may fork (`Sampler.forks_from_uniform`, checked by the
    caller). Returns False (nothing written) when the source has no such
    checkpoint; a later `train --resume` continues the forked run."""
    src, rd = RunDir(source), RunDir(run_dir)
    path = src.epoch_checkpoint_path(epoch)
    if not path.is_file() or not src.has_config():
        return False
    other = read_config(src)
    same = {k: v for k, v in other.to_dict().items() if k not in ("sampler", "sampler_options")}
    mine = {k: v for k, v in cfg.to_dict().items() if k not in ("sampler", "sampler_options")}
    diffs = [k for k in same if k not in RunConfig.UNHASHED and same[k] != mine.get(k)]
    if diffs:
        raise HarnessError(f"cannot fork {rd.path} from {src.path}: configs differ in {diffs}")
    if not epoch + 1 < min(cfg.warmup_epochs, other.warmup_epochs) or epoch + 1 > cfg.epochs:
        raise HarnessError(f"cannot fork at epoch {epoch + 1}: it must end before the last "
                           "warm-up epoch of both runs")
    with rd.lock():
        if rd.has_checkpoint():
            return False
        state = load_checkpoint(path)
        sampler = state["sampler"]
        state["sampler"] = {"rng": sampler["rng"], "counts": sampler["counts"]}
        state["config_hash"] = cfg.hash()
        rd.write_config(config_record(cfg))
        rd.clear_done()
        rd.truncate_log(None)
        for record in src.read_log():
            if record.get("epoch", -1) <= epoch:
                rd.append_log({**record, "forked_from": str(src.path)})
        for snapshot_epoch in range(epoch + 1):
            rd.snapshot_path(snapshot_epoch).unlink(missing_ok=True)
        atomic_torch_save(rd.checkpoint_path, state)
    return True


def train_epoch(setup: RunSetup, cfg: RunConfig, epoch: int, global_step: int, rd: RunDir,
                bar: Progress, stop_after_steps: int | None) -> int:
    supernet, optimizer, sampler = setup.supernet, setup.optimizer, setup.sampler
    supernet.train()
    plan = sampler.epoch_data(epoch, len(setup.train_set))
    generator = epoch_generator(cfg.seed, epoch)
    if plan is not None:  # importance sampling: the sampler chose this epoch's items
        loader = setup.planned_loader(generator, plan.order)
        batches = iter(loader)
    elif sampler.weights_losses:
        # The run's own shuffle, drawn exactly as the plain loader draws it, with item positions
        # (the sampler estimates per-item scores from them).
        loader = setup.planned_loader(
            generator, torch.randperm(len(setup.train_set), generator=generator))
        batches = iter(loader)
    else:
        loader = setup.train_loader(generator)
        batches = ((x, y, None) for x, y in loader)
    n_steps = len(loader) if cfg.steps_per_epoch is None else min(len(loader), cfg.steps_per_epoch)
    params = [p for p in supernet.parameters() if p.requires_grad]
    autocast = (torch.autocast("cuda", dtype=torch.float16) if setup.use_amp else nullcontext())
    total_loss, total_correct, total_seen, total_paths = 0.0, 0, 0, 0
    started = time.perf_counter()
    for index, (x, y, positions) in enumerate(batches):
        if index >= n_steps:
            break
        if stop_after_steps is not None and global_step >= stop_after_steps:
            raise KeyboardInterrupt(f"stopped after {global_step} steps (test hook)")
        _test_pause(rd, str(global_step), setup.dist)
        x, y = setup.to_device(x, y)
        archs = sampler.paths(global_step)
        distributed.check_same_draw(setup.dist, [setup.space.key(a) for a in archs], global_step)
        sampler.record(archs)
        optimizer.zero_grad(set_to_none=True)
        reduced = False
        step_loss = 0.0
        item_weights = None
        if plan is not None:
            item_weights = torch.as_tensor(plan.weights[positions.numpy()], dtype=torch.float32,
                                           device=y.device)
        for arch in archs:
            with autocast:
                logits = supernet(x, arch)
                # Path losses are summed, not averaged: with m paths per update (FairNAS) every
                # candidate gets the full gradient of its own path, as in FairNAS.
                if sampler.weights_losses:
                    per_item = F.cross_entropy(logits, y, reduction="none")
                    reported = per_item.mean()
                    weighted = per_item * item_weights if item_weights is not None else per_item
                    loss = weighted.mean() * sampler.path_weight(arch)
                else:
                    loss = reported = F.cross_entropy(logits, y)
            if not distributed.all_ranks_finite(setup.dist, loss):  # every rank stops together
                rd.append_log({"epoch": epoch, "step": global_step, "event": "nan_loss"})
                value = loss.item()
                # Under torchrun every rank stops; a rank whose own loss was finite says so.
                became = (str(value) if not math.isfinite(value) else
                          f"non-finite on another rank (rank {setup.dist.rank}: {value:.4g})")
                kept = (f"the last good checkpoint is kept in {rd.checkpoint_path.parent}"
                        if rd.has_checkpoint() else
                        "no checkpoint was written before it, so nothing is kept")
                raise TrainingDiverged(
                    f"loss became {became} at epoch {epoch + 1}, step {global_step} "
                    f"(architecture {setup.space.key(arch)}); {kept}: lower --lr or enable "
                    "gradient clipping"
                )
            if sampler.weights_losses:
                sampler.observe_batch(global_step, arch, positions, logits.detach(), y)
            if setup.scaler is not None:
                setup.scaler.scale(loss).backward()
            else:
                loss.backward()
            if sampler.wants_gradients(global_step):
                # A sampler that reads the training gradient sees the ranks' average. With
                # several paths a step, the gradient accumulated so far is averaged again at each
                # reduce, which leaves averages unchanged.
                distributed.all_reduce_gradients(setup.dist, params)
                reduced = True
                sampler.observe_gradients(global_step, arch, supernet)
            step_loss += reported.item()
            total_correct += int((logits.argmax(1) == y).sum())
        if not reduced:
            distributed.all_reduce_gradients(setup.dist, params)
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
        bar.update(1, epoch=f"{epoch + 1}/{cfg.epochs}", loss=f"{step_loss / len(archs):.3f}")
    total_loss, total_correct, total_seen, total_paths = distributed.sum_over_ranks(
        setup.dist, [total_loss, total_correct, total_seen, total_paths])
    rd.append_log({
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
