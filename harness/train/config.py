"""Run configuration: a frozen dataclass, profiles as named overrides, provenance of every run."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness import __version__
from harness.errors import HarnessError, did_you_mean
from harness.profiles import PROFILES, profile_names  # the run-config overrides of every profile


@dataclass(frozen=True)
class RunConfig:
    """Everything that determines a supernet run. Its hash names the run's cache entry."""

    space: str
    benchmark: str | None = None
    sampler: str = "uniform"
    # The sampler's typed options (its `Options` dataclass); a mapping given here is parsed and
    # checked once, when the config is made. `to_dict()` records them as the sampler's
    # `Options.to_dict()`.
    sampler_options: Any = field(default_factory=dict)
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

    def __post_init__(self) -> None:
        check_ranges(self)
        from harness.samplers.base import recorded_sampler_options

        object.__setattr__(self, "sampler_options",
                           recorded_sampler_options(self.sampler, self.sampler_options))

    def to_dict(self) -> dict:
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        record["sampler_options"] = self.sampler_options.to_dict()
        return json.loads(json.dumps(record, default=list))

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


# ---------------------------------------------------------------- ranges, checked once

def _int(low: int, high: int | None = None, optional: bool = False):
    def check(value) -> bool:
        if value is None:
            return optional
        if isinstance(value, bool) or not isinstance(value, int):
            return False
        return value >= low and (high is None or value <= high)

    span = f"an integer from {low}" + (f" to {high}" if high is not None else " up")
    return check, span + (" (or unset)" if optional else "")


def _float(low: float, high: float | None = None, low_open: bool = False, optional: bool = False):
    def check(value) -> bool:
        if value is None:
            return optional
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        above = value > low if low_open else value >= low
        return above and (high is None or value <= high)

    bound = f"{'greater than' if low_open else 'at least'} {low:g}"
    return check, (f"a finite number {bound}" + (f" and at most {high:g}" if high is not None else "")
                   + (" (or unset)" if optional else ""))


def _choice(*values: str):
    return (lambda value: value in values), "one of " + ", ".join(values)


# What each field of a run config may hold. Checked when a config is made (CLI options, a
# profile, config.json), so every command refuses a bad value the same way and before it
# creates a folder or loads data. What depends on the machine (threads, device) or on the data
# (batch size against the split) is checked by the trainer's `validate_run`.
RANGES: dict[str, tuple] = {
    "seed": _int(0, 2**32 - 1),
    "subset": _int(100, optional=True),
    "resize": _int(8, 1024, optional=True),
    "width_mult": _float(0.0, 16.0, low_open=True),
    "epochs": _int(1),
    "warmup_epochs": _int(0),
    "batch_size": _int(1),
    "lr": _float(0.0, low_open=True),
    "lr_schedule": _choice("cosine", "step", "constant"),
    "momentum": _float(0.0, 1.0),
    "weight_decay": _float(0.0),
    "grad_clip": _float(0.0, low_open=True, optional=True),
    "steps_per_epoch": _int(1, optional=True),
    "bn_eval": _choice("batch", "recalibrate", "running"),
    "bn_recalibration_batches": _int(1),
    "eval_batch_size": _int(1),
    "eval_images": _int(1, optional=True),
    "eval_average_epochs": _int(0),
    "probe_size": _int(1),
    "num_threads": _int(1, optional=True),
    "world_size": _int(1),
    "init_perturbation": _int(0),
}


# Fields whose command-line option is not --<field-name>.
OPTION_NAMES = {"num_threads": "--threads"}


def cut_warmup(cfg: RunConfig) -> str | None:
    """A note when resolve_config shortened the profile's warm-up to fit --epochs."""
    profile_warmup = profile_overrides(cfg.profile, cfg.space).get("warmup_epochs")
    if isinstance(profile_warmup, int) and cfg.warmup_epochs < profile_warmup \
            and cfg.warmup_epochs == cfg.epochs:
        return (f"note: warm-up cut to the run's {cfg.epochs} epoch(s) (the {cfg.profile} "
                f"profile's is {profile_warmup}): the whole run is warm-up; pass --warmup-epochs "
                "to choose")
    return None


def check_ranges(cfg: RunConfig) -> None:
    """One line naming the field (and its option) that is out of range; cross-field rules last."""
    for name, (ok, what) in RANGES.items():
        value = getattr(cfg, name)
        if not ok(value):
            option = OPTION_NAMES.get(name, "--" + name.replace("_", "-"))
            raise HarnessError(f"{name} must be {what}, got {value!r} (option {option})")
    if cfg.warmup_epochs > cfg.epochs:
        raise HarnessError(f"warmup_epochs ({cfg.warmup_epochs}) is longer than the run's "
                           f"{cfg.epochs} epochs; lower --warmup-epochs or raise --epochs")
    if cfg.eval_average_epochs > cfg.epochs:
        raise HarnessError(f"eval_average_epochs ({cfg.eval_average_epochs}) is more than the "
                           f"run's {cfg.epochs} epochs")


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
    """The run-config overrides the profile gives runs of `space`."""
    if profile not in PROFILES:
        raise HarnessError(f"unknown profile '{profile}'{did_you_mean(profile, profile_names())}"
                           f"; known: {', '.join(profile_names())}")
    return PROFILES.get(profile).run_overrides(space)


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
    # A run shortened by --epochs alone keeps a warm-up that fits it (the caller says so, see
    # `cut_warmup`); a --warmup-epochs longer than --epochs is refused by check_ranges.
    if overrides.get("epochs") is not None and overrides.get("warmup_epochs") is None \
            and isinstance(values.get("warmup_epochs"), int) \
            and isinstance(values.get("epochs"), int) and values["warmup_epochs"] > values["epochs"]:
        values["warmup_epochs"] = max(values["epochs"], 0)
    # The sampler's typed options, first (every default filled in: the hash names the run that
    # actually happens, and a typo or an unknown sampler fails here instead of changing the hash).
    from harness.samplers import parse_sampler_options

    values["sampler_options"] = parse_sampler_options(values.get("sampler", "uniform"),
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
