"""A finished (or, on request, unfinished) run, as evaluation and search need it.

`TrainedRun.open(run_dir)` checks that the directory holds a run, that its checkpoint belongs to
the config in config.json (same hash), and that the run finished; it then rebuilds the supernet
with the checkpoint's weights and the run's data splits. Evaluation and search use this and never
the trainer's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from harness.data import load_split, make_loader
from harness.errors import HarnessError
from harness.rundir import RunDir
from harness.train.checkpoint import load_checkpoint
from harness.train.config import RunConfig
from harness.train.runner import read_config
from harness.train.setup import data_config, init_supernet, net_config, resolve_device


@dataclass
class TrainedRun:
    rundir: RunDir
    cfg: RunConfig
    state: dict  # the last checkpoint (weights_only)
    finished: bool

    @classmethod
    def open(cls, run_dir: str | Path | RunDir, allow_unfinished: bool = False) -> TrainedRun:
        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(run_dir)
        cfg = read_config(rd)
        if not rd.has_checkpoint():
            raise HarnessError(f"{rd.path}: no checkpoint yet; train the run first "
                               "(nas-harness train ... --resume)")
        state = load_checkpoint(rd.checkpoint_path)
        if state.get("config_hash") != cfg.hash():
            raise HarnessError(f"{rd.checkpoint_path}: belongs to config {state.get('config_hash')}"
                               f", not to {cfg.hash()} in {rd.CONFIG}; the directory mixes two "
                               "runs: delete it and retrain")
        done = rd.read_done()  # a garbled done marker is refused, never taken as "finished"
        if done is not None and (not isinstance(done, dict)
                                 or done.get("config_hash") not in (None, cfg.hash())):
            raise HarnessError(f"{rd.done_path}: not this run's done marker (config "
                               f"{done.get('config_hash') if isinstance(done, dict) else done!r}, "
                               f"not {cfg.hash()}); delete it and resume the run with "
                               "nas-harness train ... --resume")
        finished = done is not None and int(state["epoch"]) + 1 >= cfg.epochs
        if not finished and not allow_unfinished:
            raise HarnessError(f"{rd.path}: the run has not finished (epoch {int(state['epoch']) + 1}"
                               f" of {cfg.epochs}); resume it with nas-harness train --resume, or "
                               "pass --allow-unfinished to score the last checkpoint")
        return cls(rd, cfg, state, finished)

    @property
    def epochs_done(self) -> int:
        return int(self.state["epoch"]) + 1

    @property
    def checkpoint_path(self) -> Path:
        return self.rundir.checkpoint_path

    def device(self) -> torch.device:
        return resolve_device(self.cfg.device)

    def supernet(self, device=None) -> torch.nn.Module:
        """The run's supernet with the checkpoint's weights, on `device` (the run's by default)."""
        device = device or self.device()
        model = init_supernet(self.cfg.space, net_config(self.cfg, data_config(self.cfg)),
                              self.cfg.seed).to(device)
        model.load_state_dict(self.state["model"])
        return model

    def averaged_state(self, epochs: int) -> dict:
        """The mean of the kept checkpoints of the last `epochs` epochs done (weights and BN
        statistics; integer counters from the last)."""
        rd, done = self.rundir, self.epochs_done
        wanted = range(done - epochs, done)
        missing = [e for e in wanted if e < 0 or not rd.epoch_checkpoint_path(e).is_file()]
        if missing:
            raise HarnessError(f"{rd.path}: no kept checkpoint of epoch(s) {missing[:3]}; "
                               f"averaging the last {epochs} epochs needs the run trained with "
                               "them kept (eval_average_epochs, or keep_checkpoints)")
        states = [load_checkpoint(rd.epoch_checkpoint_path(e))["model"] for e in wanted]
        out = {}
        for name, last in states[-1].items():
            out[name] = (torch.stack([s[name] for s in states]).mean(0)
                         if torch.is_floating_point(last) else last)
        return out

    def scored_supernet(self, device=None) -> torch.nn.Module:
        """The supernet evaluation scores: the last checkpoint, or the mean of the last
        `eval_average_epochs` epochs' checkpoints where the config says so."""
        model = self.supernet(device)
        if self.cfg.eval_average_epochs:
            model.load_state_dict(self.averaged_state(self.cfg.eval_average_epochs))
        return model

    def split(self, name: str):
        return load_split(data_config(self.cfg), name, self.cfg.seed)

    def batches(self, name: str, batch_size: int, limit: int | None = None,
                shuffle: bool = False, max_batches: int | None = None) -> list:
        """Fixed batches of a split (seeded), at most `limit` images and `max_batches` batches."""
        generator = torch.Generator().manual_seed(self.cfg.seed)
        out, budget = [], limit
        for x, y in make_loader(self.split(name), batch_size, shuffle=shuffle, generator=generator):
            if max_batches is not None and len(out) >= max_batches:
                break
            if budget is not None:
                if budget <= 0:
                    break
                x, y = x[:budget], y[:budget]
                budget -= len(y)
            out.append((x, y))
        return out
