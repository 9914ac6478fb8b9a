"""A run's sampler audit: from its audit.json, or rebuilt from the last checkpoint's sampler state."""

from __future__ import annotations

from pathlib import Path

from harness.errors import HarnessError
from harness.rundir import RunDir
from harness.samplers import build_sampler
from harness.spaces import get_space
from harness.train.checkpoint import load_checkpoint
from harness.train.runner import read_config


def run_audit(run_dir: str | Path) -> dict:
    """{run_dir, state, epochs, epochs_done, sampler_options, audit, snapshots}."""
    rd = RunDir(run_dir)
    cfg = read_config(rd)
    audit = rd.read_audit()
    epochs_done = 0
    if rd.has_checkpoint():
        state = load_checkpoint(rd.checkpoint_path)
        epochs_done = int(state["epoch"]) + 1
        if audit is None:
            sampler = build_sampler(cfg.sampler, get_space(cfg.space), cfg.seed,
                                    warmup_epochs=cfg.warmup_epochs, opts=cfg.sampler_options)
            sampler.load_state_dict(state["sampler"])
            audit = sampler.audit()
    if not epochs_done:  # an archived run keeps its log and done marker, not its checkpoint
        done = rd.read_done()
        logged = [r["epoch"] for r in rd.read_log() if "epoch" in r and "event" not in r]
        epochs_done = int(done["epochs"]) if done else (max(logged) + 1 if logged else 0)
    if audit is None:
        raise HarnessError(f"{rd.path}: no audit yet (the run has no checkpoint); train at least "
                           "one epoch first")
    snapshots = [{"epoch": s["epoch"], "active": s.get("active"),
                  "distribution": s.get("distribution"),
                  "acceptance_rate": s.get("acceptance_rate"),
                  "live_prototypes": s.get("live_prototypes")}
                 for s in rd.snapshots()]
    return {"run_dir": str(rd.path), "state": rd.state(), "epochs": cfg.epochs,
            "epochs_done": epochs_done, "sampler": cfg.sampler,
            "sampler_options": cfg.sampler_options.to_dict(), "audit": audit, "snapshots": snapshots}
