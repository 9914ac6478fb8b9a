"""From densities alpha to sampling probabilities: P = softmax(logit(alpha) / ...).

Mappings (MAPPINGS registry; alpha > 0, tau > 0):
  neg_density      logit = -alpha / tau          the natural reading of eq. 8 (DEFAULT)
  neg_log_density  logit = -log(alpha) / tau     (tau = 1: P proportional to 1 / alpha)
  inverse_density  logit = (1 / alpha) / tau
  rank             logit = -rank(alpha) / (n tau)  (rank 1 = lowest density; ties averaged)

All of them give lower-density architectures higher probability, and tend to uniform as
tau -> infinity.

Normalisation (a reading choice, DEFAULT normalize=None): None uses raw alpha, the literal eq. 8,
so tau has the units of a density: with alpha = 1 / mean cosine distance at the authors' distance
scale (alpha about 2-9), tau 50 is nearly uniform, tau 7 a moderate tilt and tau 0.5 a strong one
(the shape of the paper's Table 5). normalize="mean" divides alpha by its (weighted) mean first,
so tau is relative to the average density; that reading leaves tau 7 almost uniform.
(neg_log_density and rank are unaffected by a global scale.)

`class_code_probabilities` is the one path from densities to draw probabilities: the debiased
sampler calls it, and `sampling_probabilities` is its special case with one code per row.
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
    """-alpha / tau: the paper's eq. 8 on raw densities."""
    return -alpha / tau


@MAPPINGS.register("neg_log_density")
def neg_log_density(alpha: np.ndarray, tau: float) -> np.ndarray:
    """-log(alpha) / tau: ratios of densities, not differences, set the tilt."""
    return -np.log(np.maximum(alpha, TINY)) / tau


@MAPPINGS.register("inverse_density")
def inverse_density(alpha: np.ndarray, tau: float) -> np.ndarray:
    """(1 / alpha) / tau: sparse regions weighted by inverse density."""
    return (1.0 / np.maximum(alpha, TINY)) / tau


@MAPPINGS.register("rank")
def rank(alpha: np.ndarray, tau: float) -> np.ndarray:
    """-rank(alpha) / (N tau): only the order of the densities matters."""
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


def normalize_density(alpha, normalize: str | None = None, weights=None) -> np.ndarray:
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


def density_logits(alpha, tau: float, mapping: str = "neg_density", normalize: str | None = None,
                   weights=None) -> np.ndarray:
    """float64 logits, clipped to +-1e300, of the named mapping after normalisation."""
    a = _check(alpha, float(tau))
    a = normalize_density(a, normalize, weights)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        logits = MAPPINGS.get(mapping)(a, float(tau))
    logits = np.nan_to_num(logits, nan=0.0, posinf=LOGIT_CLIP, neginf=-LOGIT_CLIP)
    return np.clip(logits, -LOGIT_CLIP, LOGIT_CLIP)


def softmax(logits: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """softmax(logits), float64; with `weights`, each row's mass is weight * exp(logit) (rows
    that stand for several equal items), normalised."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    mass = e if weights is None else weights * e
    return mass / mass.sum()


def class_code_probabilities(alpha, sizes, tau: float, mapping: str = "neg_density",
                             normalize: str | None = None, draw: str = "codes"
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(probability of each row, probability of each single code of the row).

    Row i stands for sizes[i] equivalent codes (a distinct network; 1 each when sizes is None).
    draw="codes": every code has probability proportional to exp(logit of its row), so a row's
    mass is size * exp(logit) and tau -> infinity gives the uniform sampler's distribution over
    codes. draw="classes": rows get softmax(logits), each code of a row an equal share.
    The sizes also weight the "mean" normalisation (the mean over codes).
    """
    a = np.asarray(alpha, dtype=np.float64).reshape(-1)
    w = np.ones_like(a) if sizes is None else np.asarray(sizes, dtype=np.float64).reshape(-1)
    if w.shape != a.shape or np.any(w <= 0):
        raise ValueError("sizes must be positive and match alpha")
    if draw not in ("codes", "classes"):
        raise HarnessError(f"unknown draw '{draw}'; use codes or classes")
    logits = density_logits(a, tau, mapping, normalize, weights=w)
    class_p = softmax(logits, w if draw == "codes" else None)
    return class_p, class_p / w


def sampling_probabilities(alpha, tau: float, mapping: str = "neg_density",
                           normalize: str | None = None, weights=None) -> np.ndarray:
    """P = softmax(logits) over the rows of alpha (float64, finite, sums to 1): the sampler's
    `class_code_probabilities` with one code per row. `weights` only enter the "mean"
    normalisation."""
    if weights is None:
        return class_code_probabilities(alpha, None, tau, mapping, normalize)[0]
    return softmax(density_logits(alpha, tau, mapping, normalize, weights))
