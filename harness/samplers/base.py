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

from harness.registry import Registry
from harness.spaces.base import Arch, SearchSpace


def generator_state(rng: np.random.Generator) -> dict:
    return rng.bit_generator.state


def restore_generator(rng: np.random.Generator, state: dict) -> None:
    rng.bit_generator.state = state


class Sampler:
    """Base class. Subclasses implement `paths`; hooks are optional."""

    name: str = ""
    description: str = ""

    def __init__(self, space: SearchSpace, seed: int, **options: Any):
        self.space = space
        self.seed = seed
        self.options = options
        self.rng = np.random.default_rng([seed, 0x5A3])
        self.counts: dict[str, int] = {}

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
    def wants_gradients(self, step: int) -> bool:
        """Whether the runner should call `observe_gradients` after this step's backward."""
        return False

    def observe_gradients(self, step: int, arch: Arch, supernet) -> None:
        """Called after backward and before the optimizer step, with gradients in place."""

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict | None:
        """Called after each epoch; may return a snapshot to record (e.g. densities)."""
        return None

    def state_dict(self) -> dict:
        return {"rng": generator_state(self.rng), "counts": dict(self.counts)}

    def load_state_dict(self, state: dict) -> None:
        restore_generator(self.rng, state["rng"])
        self.counts = dict(state["counts"])


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


SAMPLERS: Registry[type[Sampler]] = Registry("sampler")


def register_sampler(name: str, description: str):
    def decorator(cls: type[Sampler]) -> type[Sampler]:
        cls.name = name
        cls.description = description
        return SAMPLERS.register(name)(cls)

    return decorator


def build_sampler(name: str, space: SearchSpace, seed: int, **options: Any) -> Sampler:
    return SAMPLERS.get(name)(space, seed, **options)
