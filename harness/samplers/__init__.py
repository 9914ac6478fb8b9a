"""Sampling strategies: every module here registers its sampler in `SAMPLERS` (loaded on first
lookup)."""

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
