"""Uniform single-path sampling (SPOS)."""

from __future__ import annotations

from harness.samplers.base import Sampler, register_sampler
from harness.spaces.base import Arch


@register_sampler("uniform", "SPOS: one architecture per step, uniformly over the space")
class UniformSampler(Sampler):
    def sample(self, step: int) -> Arch:
        return self.space.sample(self.rng)
