"""Sampling strategies: importing this module registers them all."""

from harness.samplers import debiased, debiased_online, fairnas, pada, uniform  # noqa: F401
from harness.samplers.base import (
    SAMPLERS,
    EpochContext,
    Sampler,
    build_sampler,
    parse_sampler_options,
    register_sampler,
    resolve_sampler_options,
    sampler_forks_from_uniform,
)

__all__ = ["SAMPLERS", "EpochContext", "Sampler", "build_sampler", "parse_sampler_options",
           "register_sampler", "resolve_sampler_options", "sampler_forks_from_uniform"]
