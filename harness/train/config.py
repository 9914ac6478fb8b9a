"""Run configuration: a frozen dataclass, profiles as named overrides, provenance of every run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError, did_you_mean
from harness.profiles import PROFILES  # the run-config overrides of every profile


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a supernet run. Its hash names the run's cache entry."""

    space: str
    benchmark: str | None = None
    sampler: str = "uniform"
    sampler_options: dict = field(default_factory=dict)
    profile: str = "smoke"
    seed: int = 0
    # data
    dataset: str = "fashion-mnist"
    data_root: str | None = None
    subset: int | None = None
    resize: int | None = None
    download: bool = False
    augment: bool = False
    # network
    width_mult: float = 1.0
    net_options: dict = field(default_factory=dict)
    # schedule
    epochs: int = 2
    warmup_epochs: int = 0
    batch_size: int = 128
    lr: float = 0.1
    lr_schedule: str = "cosine"  # cosine | step | constant
    lr_milestones: tuple = ()
    momentum: float = 0.9
    weight_decay: float = 5e-4
    nesterov: bool = False
    grad_clip: float | None = 5.0
    steps_per_epoch: int | None = None  # cap, for smoke runs
    unused_params_move: bool = False  # whether off-path parameters take weight decay / momentum
    # evaluation
    bn_eval: str = "batch"  # batch | recalibrate | running
    bn_recalibration_batches: int = 10
    eval_batch_size: int = 500
    eval_split: str = "supernet-val"
    eval_images: int | None = None  # cap on evaluation images (the first N of the split, fixed)
    # Score the mean of the checkpoints of the last N epochs instead of the last one (0: the last
    # checkpoint). `nas-harness noise` measured it to cut the evaluation noise of cpu pooling.
    eval_average_epochs: int = 0
    probe_size: int = 512  # images in the fixed supernet-validation batch (the paper's batch)
    # hardware
    device: str = "cpu"
    amp: bool = False
    channels_last: bool = False
    num_threads: int | None = None
    # Data parallelism (torchrun): processes, and whether BatchNorm syncs its batch statistics
    # across them (SyncBatchNorm, CUDA only). Recorded in config.json; a resume must match.
    world_size: int = 1
    sync_bn: bool = False
    # Epochs (0-based) whose checkpoint is also kept as checkpoints/epoch_XXXX.pt, e.g. the end
    # of a paired run's warm-up, which a density-sampler run of the same seed forks from.
    keep_checkpoints: tuple = ()
    # Trajectory-noise studies (`nas-harness noise`): k > 0 moves every initial weight by one
    # unit in the last place, in a direction drawn from generator (seed, k). It changes the
    # run as another machine's arithmetic would; 0 is the run itself.
    init_perturbation: int = 0

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self), default=list))

    # Fields that say where or how a run executes, not what it computes: left out of the hash so
    # that a cache is shared across machines and data locations.
    UNHASHED = ("device", "num_threads", "data_root", "download", "keep_checkpoints")

    # Fields added after runs were cached enter the hash only when they differ from these
    # values, so every earlier run keeps its name (a 2-process run is another run: its BatchNorm
    # statistics come from half batches).
    HASHED_WHEN_SET = {"world_size": 1, "sync_bn": False, "init_perturbation": 0,
                       "eval_average_epochs": 0}

    def kept_epochs(self) -> tuple[int, ...]:
        """Epochs whose checkpoint the trainer keeps: `keep_checkpoints` and the epochs that
        evaluation averages over."""
        averaged = range(max(0, self.epochs - self.eval_average_epochs), self.epochs)
        return tuple(sorted({*self.keep_checkpoints, *(averaged if self.eval_average_epochs else ())}))

    def hash(self) -> str:
        relevant = {k: v for k, v in self.to_dict().items() if k not in self.UNHASHED
                    and not (k in self.HASHED_WHEN_SET and v == self.HASHED_WHEN_SET[k])}
        text = json.dumps(relevant, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def replace(self, **changes: Any) -> RunConfig:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict) -> RunConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise HarnessError(f"unknown run config field(s) {unknown}{did_you_mean(unknown[0], known)}")
        data = dict(data)
        for name in ("lr_milestones", "keep_checkpoints"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


def config_differences(old: RunConfig, new: RunConfig) -> list[str]:
    """'field: old -> new' for every field that enters the hash and differs (nested dicts by key)."""
    a, b = old.to_dict(), new.to_dict()
    out = []
    for name in a:
        if name in RunConfig.UNHASHED or a[name] == b.get(name, RunConfig.HASHED_WHEN_SET.get(name)):
            continue
        if isinstance(a[name], dict) and isinstance(b.get(name), dict):
            for key in sorted(set(a[name]) | set(b[name])):
                if a[name].get(key) != b[name].get(key):
                    out.append(f"{name}.{key}: {a[name].get(key)!r} -> {b[name].get(key)!r}")
        else:
            out.append(f"{name}: {a[name]!r} -> {b.get(name)!r}")
    return out


def profile_overrides(profile: str, space: str) -> dict:
    if profile not in PROFILES:
        raise HarnessError(f"unknown profile '{profile}'{did_you_mean(profile, PROFILES)}; "
                           f"known: {', '.join(PROFILES)}")
    table = PROFILES[profile]
    merged = dict(table.get("*", {}))
    for key, value in table.get(space, {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        else:
            merged[key] = value
    return merged


# A supernet scored against a benchmark the harness trained itself must see the same data and
# network shape as the stand-alone networks: these fields come from the table's recipe.
RECIPE_FIELDS = ("dataset", "resize", "width_mult", "net_options")


def recipe_overrides(benchmark: str | None) -> dict:
    if not benchmark:
        return {}
    from harness.benchmarks.generated import GENERATED, generated_table_path

    if benchmark not in GENERATED:
        return {}
    path = generated_table_path(benchmark, None).with_suffix(".json")
    if not path.is_file():
        return {}
    recipe = json.loads(path.read_text()).get("recipe", {})
    return {k: recipe[k] for k in RECIPE_FIELDS if k in recipe}


def resolve_config(space: str, profile: str, **overrides: Any) -> RunConfig:
    """Profile defaults for `space`, then the benchmark recipe's data/network shape, then explicit
    overrides (None means 'not given')."""
    values = {"space": space, "profile": profile, **profile_overrides(profile, space)}
    benchmark = overrides.get("benchmark") or values.get("benchmark")
    values.update(recipe_overrides(benchmark))
    for key, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, dict) and isinstance(values.get(key), dict):
            values[key] = {**values[key], **value}
        else:
            values[key] = value
    # The sampler's options, validated and with every default filled in: the hash names the run
    # that actually happens, and a typo fails here instead of changing the hash alone.
    from harness.samplers import resolve_sampler_options

    values["sampler_options"] = resolve_sampler_options(values.get("sampler", "uniform"),
                                                        values.get("sampler_options"))
    return RunConfig.from_dict(values)


def git_commit() -> str | None:
    """HEAD, with "-dirty" when tracked files other than the reports differ from it: a report's
    provenance is the code and data that made it, not the report being written."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    commit = out.stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                            ":(top)", ":(top,exclude)reports"],
                           cwd=here, capture_output=True, text=True)
    return commit + ("-dirty" if dirty.stdout.strip() else "")


def provenance(device: str | None = None) -> dict:
    """Version, commit, torch and Python; with `device`, the environment fingerprint of a run
    computing there (harness.environment: what decides its last bits)."""
    import platform

    import torch

    record = {
        "harness_version": __version__,
        "git_commit": git_commit(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device is not None:
        from harness.environment import fingerprint

        record["environment"] = fingerprint(device=device)
    return record
