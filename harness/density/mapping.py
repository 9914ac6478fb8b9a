"""From densities alpha to sampling probabilities: P = softmax(logit(alpha) / ...).

Mappings (MAPPINGS registry; alpha > 0, tau > 0):
  neg_density      logit = -alpha / tau          the natural reading of eq. 8 (DEFAULT)
  neg_log_density  logit = -log(alpha) / tau     (tau = 1: P proportional to 1 / alpha)
  inverse_density  logit = (1 / alpha) / tau
  rank             logit = -rank(alpha) / (n tau)  (rank 1 = lowest density; ties averaged)

All of them give lower-density architectures higher probability, and tend to uniform as
tau -> infinity.

Normalisation (a reading choice, DEFAULT normalize="mean"): for neg_density the scale of alpha
matters: tau has the units of a density, and a density "1 / mean cosine distance" lives around
1-2 while a KDE value lives in (0, 1], so one tau means different things for different
estimators, layers or training stages. With normalize="mean", alpha is divided by its mean
(weighted by `weights` when given, i.e. the mean over codes / observed items) before the mapping,
so tau is relative to the average density and is scale-free. normalize=None uses raw alpha, the
literal reading of eq. 8. (neg_log_density and rank are unaffected by a global scale; for
inverse_density it rescales the logits like neg_density.)

`sampling_probabilities` is a numerically stable softmax: logits are computed in float64, clipped
to +-1e300 (so no inf or nan arises even for alpha = 1e12 with tau = 1e-6), the maximum is
subtracted, and the result sums to 1 with every entry finite and >= 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from harness.errors import HarnessError
from harness.registry import Registry

MAPPINGS: Registry[Callable[[np.ndarray, float], np.ndarray]] = Registry("density mapping")
NORMALIZATIONS = (None, "none", "mean")

# Densities are floored here before logs and reciprocals.
TINY = 1e-300
LOGIT_CLIP = 1e300


@MAPPINGS.register("neg_density")
def neg_density(alpha: np.ndarray, tau: float) -> np.ndarray:
    return -alpha / tau


@MAPPINGS.register("neg_log_density")
def neg_log_density(alpha: np.ndarray, tau: float) -> np.ndarray:
    return -np.log(np.maximum(alpha, TINY)) / tau


@MAPPINGS.register("inverse_density")
def inverse_density(alpha: np.ndarray, tau: float) -> np.ndarray:
    return (1.0 / np.maximum(alpha, TINY)) / tau


@MAPPINGS.register("rank")
def rank(alpha: np.ndarray, tau: float) -> np.ndarray:
    return -rankdata(alpha) / (len(alpha) * tau)


def _check(alpha, tau: float) -> np.ndarray:
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    if a.size == 0:
        raise ValueError("no densities")
    if not np.all(np.isfinite(a)) or np.any(a < 0):
        raise ValueError("densities must be finite and non-negative")
    if not (np.isfinite(tau) and tau > 0):
        raise HarnessError(f"temperature tau must be a positive finite number, got {tau}")
    return a


def normalize_density(alpha, normalize: str | None = "mean", weights=None) -> np.ndarray:
    """alpha / its (weighted) mean for normalize="mean"; alpha unchanged for None / "none"."""
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    if normalize not in NORMALIZATIONS:
        raise HarnessError(f"unknown density normalisation {normalize!r}; use 'mean' or none")
    if normalize == "mean":
        w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=np.float64)
        mean = float((a * w).sum() / max(w.sum(), TINY))
        if mean > 0 and np.isfinite(mean):
            return a / mean
    return a


def density_logits(alpha, tau: float, mapping: str = "neg_density", normalize: str | None = "mean",
                   weights=None) -> np.ndarray:
    """float64 logits, clipped to +-1e300, of the named mapping after normalisation."""
    a = _check(alpha, float(tau))
    a = normalize_density(a, normalize, weights)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        logits = MAPPINGS.get(mapping)(a, float(tau))
    logits = np.nan_to_num(logits, nan=0.0, posinf=LOGIT_CLIP, neginf=-LOGIT_CLIP)
    return np.clip(logits, -LOGIT_CLIP, LOGIT_CLIP)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max()
    e = np.exp(z)
    return e / e.sum()


def sampling_probabilities(alpha, tau: float = 7.0, mapping: str = "neg_density",
                           normalize: str | None = "mean", weights=None) -> np.ndarray:
    """P = softmax(logits) over the rows of alpha (float64, finite, sums to 1).

    `weights` only enter the "mean" normalisation; the probability is per row. To turn
    per-row probabilities into per-item ones when a row stands for w items, use
    P_item proportional to exp(logit), i.e. `softmax(logits + log w)` per group (see
    harness.samplers.debiased).
    """
    return softmax(density_logits(alpha, tau, mapping, normalize, weights))
