"""Density estimators: a distance matrix D [n, n] -> densities alpha [n] (float64 numpy).

Rows of D may stand for groups of identical items: `weights[c]` is how many items row c stands
for (e.g. the number of codes of a distinct network, or the number of gradients a prototype has
absorbed). D[a, a] is then the distance between two different members of group a (0 for
equivalent codes of one network; a prototype's spread for prototypes). Every estimator averages
over the other items b != a of the expanded population of N = sum(weights) items:

    mean_{b != a} f(D[a, b]) = (sum_c weights[c] f(D[a, c]) - f(D[a, a])) / (N - 1)

so with weights the result equals the estimator applied to the expanded item-level matrix, while
each group is computed once. Without weights every row is one item (weights = 1) and this is the
plain mean over the n - 1 others.

inverse_mean_distance  alpha_a = 1 / mean_{b != a} D[a, b]  (the paper's eq. 5-6 reading). A mean
                       distance of 0 is floored at 1e-12 (alpha 1e12).
kde                    alpha_a = mean_{b != a} exp(-D[a, b]^2 / (2 h^2)), a Gaussian kernel density
                       over distances (eq. 3 reading). bandwidth "median" (default): h = the median
                       of the off-diagonal entries of D (one per unordered pair of rows, rows
                       unweighted); if that is 0, the mean of the positive off-diagonal entries; if
                       none is positive, 1. A float gives h directly.

With a single item (N <= 1) every estimator returns ones.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from harness.errors import HarnessError
from harness.registry import Registry

ESTIMATORS: Registry[Callable[..., np.ndarray]] = Registry("density estimator")

MIN_MEAN_DISTANCE = 1e-12


def _as_matrix(D) -> np.ndarray:
    d = D.detach().cpu().numpy() if isinstance(D, torch.Tensor) else np.asarray(D)
    d = d.astype(np.float64)
    if d.ndim != 2 or d.shape[0] != d.shape[1]:
        raise ValueError(f"distance matrix must be square, got shape {d.shape}")
    if not np.all(np.isfinite(d)):
        raise ValueError("distance matrix has non-finite entries")
    return d


def _weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    if w.shape[0] != n or np.any(w < 0) or not np.all(np.isfinite(w)):
        raise ValueError(f"weights must be {n} finite non-negative numbers")
    return w


def _mean_over_others(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(sum_c w_c values[a, c] - values[a, a]) / (N - 1), per row a."""
    total = w.sum()
    return (values @ w - np.diag(values)) / (total - 1.0)


@ESTIMATORS.register("inverse_mean_distance")
def inverse_mean_distance(D, weights=None, **_unused) -> np.ndarray:
    """alpha_a = 1 / mean_{b != a} D[a, b] (weighted over groups, see the module docstring)."""
    d = _as_matrix(D)
    w = _weights(weights, d.shape[0])
    if w.sum() <= 1.0:
        return np.ones(d.shape[0])
    mean = _mean_over_others(d, w)
    return 1.0 / np.maximum(mean, MIN_MEAN_DISTANCE)


def median_bandwidth(d: np.ndarray) -> float:
    """Median heuristic: the median of the off-diagonal entries (one per unordered pair)."""
    n = d.shape[0]
    if n < 2:
        return 1.0
    off = d[np.triu_indices(n, k=1)]
    h = float(np.median(off))
    if h > 0:
        return h
    positive = off[off > 0]
    return float(positive.mean()) if positive.size else 1.0


@ESTIMATORS.register("kde")
def kde(D, bandwidth: str | float = "median", weights=None, **_unused) -> np.ndarray:
    """alpha_a = mean_{b != a} exp(-D[a, b]^2 / (2 h^2)); h by the median heuristic or given."""
    d = _as_matrix(D)
    w = _weights(weights, d.shape[0])
    if w.sum() <= 1.0:
        return np.ones(d.shape[0])
    if bandwidth == "median" or bandwidth is None:
        h = median_bandwidth(d)
    else:
        try:
            h = float(bandwidth)
        except (TypeError, ValueError):
            raise HarnessError(f"kde bandwidth must be 'median' or a number, got {bandwidth!r}") from None
        if not h > 0:
            raise HarnessError(f"kde bandwidth must be > 0, got {h}")
    kernel = np.exp(-(d**2) / (2.0 * h * h))
    return np.maximum(_mean_over_others(kernel, w), 0.0)


def estimate_density(D, estimator: str = "inverse_mean_distance", weights=None,
                     **options) -> np.ndarray:
    """The registered estimator `estimator` applied to D (options such as bandwidth pass on)."""
    return ESTIMATORS.get(estimator)(D, weights=weights, **options)
