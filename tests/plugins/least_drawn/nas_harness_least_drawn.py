"""A sampler in one file, outside the harness: after the uniform warm-up it favours the
architectures drawn least so far, P(a) proportional to exp(-strength * (n_a - mean n) / mean n),
where n_a counts a's draws. strength 0 is uniform; large strength draws the least-drawn ones
only (round robin, as FairNAS's strict fairness does per layer).

Everything a built-in sampler has comes from the two things below: the options dataclass
(typed parsing, defaults, `nas-harness ls samplers`, "did you mean") and the registration
decorator (train, audit, evaluate, `reproduce table3 --arm least-drawn`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.samplers.base import Sampler, register_sampler
from harness.samplers.options import SamplerOptions, option


@dataclass(frozen=True)
class LeastDrawnOptions(SamplerOptions):
    strength: float = option(2.0, "how hard the least-drawn architectures are favoured (0: "
                                  "uniform)", minimum=0)


@register_sampler("least-drawn", "after warm-up, favours the architectures drawn least so far "
                                 "(example plug-in)")
class LeastDrawnSampler(Sampler):
    Options = LeastDrawnOptions
    audit_in_tables = True  # its draws are meant to differ from uniform: show the audit

    def __init__(self, space, seed: int, warmup_epochs: int = 0, **options):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        self.archs = list(space.enumerate())  # an enumerable space (pooling, NB-Macro, NB-201)
        self.keys = [space.key(a) for a in self.archs]
        self.active = warmup_epochs == 0

    def probabilities(self) -> np.ndarray:
        counts = np.array([self.counts.get(k, 0) for k in self.keys], dtype=float)
        mean = max(counts.mean(), 1.0)
        logits = -self.opts.strength * (counts - counts.mean()) / mean
        weights = np.exp(logits - logits.max())
        return weights / weights.sum()

    def sample(self, step: int):
        if not self.active:
            return self.space.sample(self.rng)
        return self.archs[int(self.rng.choice(len(self.archs), p=self.probabilities()))]

    def on_epoch_end(self, epoch: int, context):
        self.active = self.active or epoch + 1 >= self.warmup_epochs
        return None

    def state_dict(self) -> dict:
        return {**super().state_dict(), "active": self.active}

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.active = bool(state.get("active", self.active))
