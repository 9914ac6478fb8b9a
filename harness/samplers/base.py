"""The sampler interface: which architecture(s) the supernet trains at each step.

A sampler is a small stateful object. It draws only from its own `numpy.random.Generator`
(seeded from the run seed, never the rank), so every process of a distributed run draws the same
architecture, and `state_dict()` / `load_state_dict()` make a resumed run draw exactly what an
uninterrupted one would.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.errors import HarnessError
from harness.registry import Registry
from harness.samplers.audit import chisquare_test, marginal_test
from harness.samplers.options import RecordedOptions, SamplerOptions
from harness.spaces.base import Arch, SearchSpace


def uniform_count_test(space: SearchSpace, counts: dict[str, int]) -> dict:
    """Chi-squared of per-code draw counts against uniform sampling of the space's codes."""
    n = sum(counts.values())
    product = space.size == int(np.prod([len(c) for c in space.choices], dtype=object))
    if space.enumerable and (n >= 5 * space.size or not product):
        # Per code; a constrained space with few draws pools codes in enumeration order.
        keys = [space.key(a) for a in space.enumerate()]
        return chisquare_test([counts.get(k, 0) for k in keys], np.ones(len(keys)),
                              order_name="enumeration order")
    choice_counts = [np.zeros(len(c)) for c in space.choices]
    for key, count in counts.items():
        for position, choice in enumerate(space.parse(key)):
            choice_counts[position][choice] += count
    return marginal_test(choice_counts)


def generator_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def restore_generator(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


class Sampler:
    """Base class. Subclasses implement `paths`; hooks are optional.

    `Options` is the sampler's options type (one frozen dataclass, see harness.samplers.options):
    `Sampler(space, seed, warmup_epochs=..., **raw)` parses and validates `raw` through it, and
    `self.opts` holds the result.
    """

    name: str = ""
    description: str = ""
    Options: type[SamplerOptions] = SamplerOptions
    # Whether the sampler reads the fixed probe batch (the runner then checks that it fits).
    uses_probe: bool = False
    # Probe batches (of probe_size images each) the sampler reads; the runner holds this many.
    probe_batches_wanted: int = 1
    # Whether the runner computes per-example losses and weights them (importance sampling:
    # `epoch_data`, `path_weight`, `observe_batch`). Off: the plain mean loss, as always.
    weights_losses: bool = False
    # Whether the tables show this sampler's draw audit (KL from uniform, tilted or not) beside
    # its arm: a sampler whose draws are meant to differ from uniform (a plug-in sets it too).
    audit_in_tables: bool = False

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0,
                 opts: SamplerOptions | None = None, **options: Any):
        self.space = space
        self.seed = seed
        self.warmup_epochs = int(warmup_epochs)
        name = self.name or type(self).__name__
        if opts is not None and options:
            raise HarnessError(f"sampler '{name}': pass typed options or KEY=VALUE options, not "
                               "both")
        self.opts = self.Options.parse(opts if opts is not None else options, name)
        self.options = self.opts.to_dict()
        self.rng = np.random.default_rng([seed, 0x5A3])
        self.counts: dict[str, int] = {}

    @classmethod
    def forks_from_uniform(cls, opts: SamplerOptions) -> bool:
        """Whether a run of this sampler with these (resolved) options may start from the uniform
        run's warm-up checkpoint and be exactly the run trained from scratch: true only for a
        sampler whose warm-up draws, and records, nothing but what uniform does. Default: no."""
        return False

    @classmethod
    def audit_schedule(cls, audit: dict) -> tuple[list[str], list[list]] | None:
        """(column headers, one row per epoch) of what the sampler's own schedule did, read from
        its `audit()`; `nas-harness audit` prints it in place of the density snapshots' table.
        Default: none."""
        return None

    @classmethod
    def strict_on(cls, space: SearchSpace) -> bool:
        """Whether the sampler runs on `space` as published, not as a documented relaxation; the
        paper's tables run a baseline only where it does. Default: yes."""
        return True

    def paths(self, step: int) -> list[Arch]:
        """The architectures trained at `step`; gradients accumulate over them, then one update."""
        return [self.sample(step)]

    def sample(self, step: int) -> Arch:
        raise NotImplementedError

    def record(self, archs: list[Arch]) -> None:
        for arch in archs:
            key = self.space.key(arch)
            self.counts[key] = self.counts.get(key, 0) + 1

    # Hooks the runner calls; the default sampler ignores them.
    def attach(self, supernet, probe_batch: tuple, loss_fn: Callable) -> None:
        """Called once the run's supernet and fixed probe batch exist, before training: resolve
        anything that depends on the network (tensor names), so bad options fail early."""

    def wants_gradients(self, step: int) -> bool:
        """Whether the runner should call `observe_gradients` after this step's backward."""
        return False

    def observe_gradients(self, step: int, arch: Arch, supernet) -> None:
        """Called after backward and before the optimizer step, with gradients in place."""

    def epoch_data(self, epoch: int, n_items: int) -> EpochData | None:
        """The epoch's training items and their loss weights, drawn by the sampler (data
        importance sampling); None: the run's own seeded shuffle, every weight 1."""
        return None

    def path_weight(self, arch: Arch) -> float:
        """The loss weight of a path drawn by this sampler (1 / (size * q(arch)) keeps the
        gradient an unbiased estimate of the uniform average); 1 without importance sampling."""
        return 1.0

    def observe_batch(self, step: int, arch: Arch, positions, logits, targets) -> None:
        """Called (when `weights_losses`) after a path's forward, with the batch's item positions
        in the training set and its detached logits."""

    def on_train_start(self, context: EpochContext) -> dict | None:
        """Called once before the first epoch of a fresh run; may return a snapshot (epoch -1)."""
        return None

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict | None:
        """Called after each epoch; may return a snapshot to record (e.g. densities)."""
        return None

    def audit(self) -> dict:
        """The realised draws against the sampler's design (uniform here): counts and a test.

        Enumerable spaces with at least 5 expected draws per code are tested code by code;
        otherwise by per-position choice marginals (see harness.samplers.audit).
        """
        n_draws = int(sum(self.counts.values()))
        out: dict[str, Any] = {"sampler": self.name, "n_draws": n_draws,
                               "design": "uniform over codes", "counts": dict(self.counts)}
        out["tests"] = {"vs_uniform": uniform_count_test(self.space, self.counts)}
        out["tests"]["vs_design"] = out["tests"]["vs_uniform"]
        return out

    def state_dict(self) -> dict:
        return {"rng": generator_state(self.rng), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        restore_generator(self.rng, state["rng"])
        self.counts = dict(state["counts"])


@dataclass(frozen=True)
class EpochData:
    """An epoch's training items (positions into the training set, in order; repeats allowed)
    and each training-set item's loss weight."""

    order: np.ndarray
    weights: np.ndarray


@dataclass
class EpochContext:
    """What a sampler may use at an epoch boundary (density recomputation needs the supernet)."""

    epoch: int
    epochs: int
    supernet: Any
    probe_batch: tuple  # (x, y) fixed batch from supernet-validation
    train_batch: tuple  # (x, y) a training batch of this epoch
    loss_fn: Callable
    device: Any
    run_dir: Any
    # Data-parallel runs: (fn, archs) -> fn(archs), each rank computing a slice (see
    # harness.train.distributed.shard_map); None computes everything here.
    shard_map: Callable | None = None
    # Every fixed probe batch (the first is probe_batch), as many as the sampler wants.
    probe_batches: tuple = ()

    def map_archs(self, fn: Callable, archs):
        """fn(archs) ({name: Tensor [len(archs), ...]}), divided over the ranks when sharded."""
        return fn(archs) if self.shard_map is None else self.shard_map(fn, archs)


SAMPLERS: Registry[type[Sampler]] = Registry("sampler", providers="harness.samplers")


def register_sampler(name: str, description: str):
    def decorator(cls: type[Sampler]) -> type[Sampler]:
        cls.name = name
        cls.description = description
        return SAMPLERS.register(name)(cls)

    return decorator


def build_sampler(name: str, space: SearchSpace, seed: int, warmup_epochs: int = 0,
                  opts: SamplerOptions | None = None, **options: Any) -> Sampler:
    """Sampler `name`, with typed options (a run config's) or KEY=VALUE ones."""
    return SAMPLERS.get(name)(space, seed, warmup_epochs=warmup_epochs, opts=opts, **options)


def sampler_forks_from_uniform(name: str, options: SamplerOptions | dict | None) -> bool:
    """`Sampler.forks_from_uniform` of sampler `name` with its options."""
    return SAMPLERS.get(name).forks_from_uniform(parse_sampler_options(name, options))


def parse_sampler_options(name: str, options: SamplerOptions | dict | None) -> SamplerOptions:
    """The typed, validated options of sampler `name` (every default filled in; `to_dict()` is
    what a run config records); errors name the option and what it must be."""
    return SAMPLERS.get(name).Options.parse(options, name)


def recorded_sampler_options(name: str, options: SamplerOptions | dict | None) -> SamplerOptions:
    """A recorded config's options: typed when sampler `name` is registered, else kept as
    recorded (RecordedOptions), so a plug-in's run reads without the plug-in loaded."""
    if name not in SAMPLERS and not isinstance(options, SamplerOptions):
        return RecordedOptions(dict(options or {}))
    return parse_sampler_options(name, options)


def resolve_sampler_options(name: str, options: SamplerOptions | dict | None) -> dict:
    """The options of sampler `name` as a run config records them (`parse_sampler_options`'s
    `to_dict()`)."""
    return parse_sampler_options(name, options).to_dict()
