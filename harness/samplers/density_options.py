"""The options both density-aware samplers share, declared once, with one validator."""

from __future__ import annotations

from dataclasses import dataclass

from harness.density.estimators import ESTIMATORS
from harness.density.features import FEATURE_SETS
from harness.density.mapping import MAPPINGS
from harness.errors import HarnessError
from harness.samplers.options import SamplerOptions, option


@dataclass(frozen=True)
class DensityOptions(SamplerOptions):
    """How densities become sampling probabilities: P(a) = softmax(mapping(alpha_a) / tau)."""

    tau: float = option(7.0, "temperature of eq. 8; large tau -> uniform, tau < 1 sharpens",
                        minimum=0.0, exclusive=True)
    estimator: str = option("inverse_mean_distance",
                            "density estimator: inverse mean distance (eq. 5-6) or Gaussian KDE "
                            "(eq. 3)", choices=tuple(ESTIMATORS.names()))
    bandwidth: str | float = option("median", "KDE bandwidth: 'median' (heuristic) or a number > 0")
    mapping: str = option("neg_density", "density -> logit; neg_density is the literal eq. 8",
                          choices=tuple(MAPPINGS.names()))
    normalize: str | None = option(None, "null: raw alpha (the literal eq. 8); 'mean': alpha / "
                                   "its mean, so tau is relative", choices=(None, "mean"))
    feature_set: str | None = option(None, "weight tensors whose gradients describe a network: "
                                     "null = the space's default (pooling: early = stem + blocks "
                                     "1-3; others: shared = tensors every network uses); shared, "
                                     "early, groups3 (first three searchable layer groups, "
                                     "candidates included), all",
                                     choices=(None, *FEATURE_SETS))
    layers: list[str] | None = option(None, "tensor names, module prefixes or globs; overrides "
                                      "feature_set")

    def check(self, sampler: str) -> None:
        if isinstance(self.bandwidth, str):
            if self.bandwidth != "median":
                raise HarnessError(f"sampler '{sampler}': bandwidth must be 'median' or a "
                                   f"number > 0, got {self.bandwidth!r}")
        elif not self.bandwidth > 0:
            raise HarnessError(f"sampler '{sampler}': bandwidth must be > 0, got {self.bandwidth}")
        if self.layers is not None and not self.layers:
            raise HarnessError(f"sampler '{sampler}': layers must name at least one tensor")
