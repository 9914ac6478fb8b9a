"""Bounded-memory online clustering of gradient embeddings (online / mini-batch k-means).

`OnlinePrototypes(k, dim, seed)` keeps k centres [k, dim], a count per centre and a spread per
centre (the running mean squared distance of its members to it). Memory is O(k * dim) whatever
the number of architectures seen.

Initialisation: the first `init_size` vectors (default 4k, at least k) are buffered; then
k-means++ seeding (from the object's own seeded generator) and `init_iters` Lloyd iterations
on that buffer give the first centres, and the buffer is dropped. Afterwards every vector moves
its nearest centre by a step 1 / count (Sculley's mini-batch k-means, one vector at a time):
with decay = 1 each centre is the running mean of the vectors assigned to it; with decay < 1
all counts are multiplied by `decay` before each vector, so old gradients are forgotten (the
effective memory is about 1 / (1 - decay) vectors per centre, and the step size of a centre
never falls below about 1 - decay) -- useful because the supernet's gradients drift in training.
The buffered initialisation vectors are weighted by decay**age as well, so one clock holds from
the first vector.

Dead prototypes (`live`, `reseed_dead`): a prototype is dead when its decayed count is below
`dead_fraction` times the mean count (it has stopped receiving vectors, e.g. because it was seeded
on an outlier or the data drifted away from it). `reseed_dead(dead_fraction, sample, weights)`
moves each dead centre into the live prototype with the largest count * spread (its share of the
k-means objective, so most likely two clusters under one centre): the sample's members of that
prototype are split in two by weighted 2-means, started from the two sides of their top principal
direction; the two halves take the two centres (the parent keeps the half nearer its old centre),
their counts (the parent's count split by the
halves' weights, at least 2 x the dead threshold for the new one where the parent allows) and
their spreads. Splitting is deterministic (no random numbers), so a resumed run re-seeds exactly
as an uninterrupted one. The caller passes the sample (the sampler's reservoir, weighted by
decay**age).

Densities of prototypes (`densities`): a prototype stands for `counts[i]` vectors. The distance
between two architectures is approximated through their prototypes; with the default metric
"half_sq_euclidean", D(x, y) = ||x - y||^2 / 2, which on the embeddings of
`harness.density.features.embed` (unit norm per layer, divided by sqrt(L)) equals the
layer-averaged cosine distance. Its expectation over members of prototypes i != j is
(||c_i - c_j||^2 + s_i + s_j) / 2, and over two members of one prototype s_i (s = spread), so
the matrix D[i, j] with diagonal D[i, i] = s_i, weighted by the counts, is what the estimators
of `harness.density.estimators` average (exactly, for inverse_mean_distance, which is linear in
D). metric "euclidean" uses ||c_i - c_j|| (and sqrt(2 s_i) on the diagonal), "cosine" the cosine
distance between centres (0 on the diagonal).
"""

from __future__ import annotations

import numpy as np
import torch

from harness.density.estimators import estimate_density
from harness.errors import HarnessError

METRICS = ("half_sq_euclidean", "euclidean", "cosine")


def _sq_dists(x: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """[m, k] squared Euclidean distances."""
    d = (x * x).sum(1)[:, None] - 2.0 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _weighted_mean(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (w.reshape(-1, *([1] * (x.ndim - 1))) * x).sum(0) / w.sum()


class OnlinePrototypes:
    """Online k-means with per-prototype counts and spreads; see the module docstring."""

    def __init__(self, k: int, dim: int, seed: int, decay: float = 1.0,
                 init_size: int | None = None, init_iters: int = 10):
        if k < 1 or dim < 1:
            raise HarnessError(f"prototypes need k >= 1 and dim >= 1, got k={k}, dim={dim}")
        if not 0.0 < decay <= 1.0:
            raise HarnessError(f"prototype decay must be in (0, 1], got {decay}")
        self.k, self.dim, self.seed = int(k), int(dim), int(seed)
        self.decay = float(decay)
        self.init_size = max(int(init_size if init_size is not None else 4 * k), self.k)
        self.init_iters = int(init_iters)
        self.rng = np.random.default_rng([self.seed, 0x9207])
        self.centers = np.zeros((self.k, self.dim))
        self.counts = np.zeros(self.k)
        self.spread = np.zeros(self.k)
        self.n_seen = 0
        self.n_reseeded = 0
        self._buffer: list[np.ndarray] = []

    # ------------------------------------------------------------------ updates

    @property
    def ready(self) -> bool:
        """Whether the centres have been initialised (init_size vectors seen)."""
        return not self._buffer and self.n_seen > 0

    def update(self, features: np.ndarray, weights=None) -> None:
        """Absorb vectors [m, dim] (in order); `weights` [m] count each as that many copies
        (importance weights; ignored for the buffered initialisation vectors)."""
        x = self._check(features)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
        if len(w) != len(x) or np.any(w <= 0) or not np.all(np.isfinite(w)):
            raise ValueError(f"weights must be {len(x)} positive finite numbers")
        for row, weight in zip(x, w):
            self.n_seen += 1
            if self.n_seen <= self.init_size:
                self._buffer.append(row.copy())
                if len(self._buffer) == self.init_size:
                    self._initialise(np.stack(self._buffer))
                    self._buffer = []
                continue
            self._absorb(row, float(weight))

    def _absorb(self, row: np.ndarray, weight: float = 1.0) -> None:
        d = _sq_dists(row[None, :], self.centers)[0]
        i = int(np.argmin(d))
        self.counts *= self.decay
        self.counts[i] += weight
        lr = weight / self.counts[i]
        self.spread[i] += lr * (d[i] - self.spread[i])
        self.centers[i] += lr * (row - self.centers[i])

    def _initialise(self, x: np.ndarray) -> None:
        """k-means++ seeding and Lloyd iterations on the buffered vectors."""
        n = x.shape[0]
        first = int(self.rng.integers(n))
        centers = [x[first]]
        closest = _sq_dists(x, x[first][None, :])[:, 0]
        for _ in range(1, self.k):
            total = closest.sum()
            if total <= 0:  # fewer distinct points than k: duplicate a random one
                index = int(self.rng.integers(n))
            else:
                index = int(np.searchsorted(np.cumsum(closest), self.rng.random() * total))
                index = min(index, n - 1)
            centers.append(x[index])
            closest = np.minimum(closest, _sq_dists(x, x[index][None, :])[:, 0])
        c = np.stack(centers).astype(np.float64)
        # The buffer's vectors count decay**age, as they would have had they been absorbed one by
        # one, so the counts run on the same clock from the start.
        w = self.decay ** np.arange(n - 1, -1, -1, dtype=np.float64)
        for _ in range(self.init_iters):
            labels = np.argmin(_sq_dists(x, c), axis=1)
            for j in range(self.k):
                member = labels == j
                if member.any():
                    c[j] = _weighted_mean(x[member], w[member])
        d = _sq_dists(x, c)
        labels = np.argmin(d, axis=1)
        self.centers = c
        self.counts = np.bincount(labels, weights=w, minlength=self.k).astype(np.float64)
        self.spread = np.array([_weighted_mean(d[labels == j, j], w[labels == j])
                                if np.any(labels == j) else 0.0 for j in range(self.k)])

    def _check(self, features) -> np.ndarray:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"features must be [m, {self.dim}], got shape {x.shape}")
        return x

    # ------------------------------------------------------------------ dead prototypes

    def dead_threshold(self, dead_fraction: float) -> float:
        """Counts below this are dead: dead_fraction times the mean count."""
        return float(dead_fraction) * float(self.counts.sum()) / self.k

    def live(self, dead_fraction: float) -> np.ndarray:
        """bool [k]: decayed count at least the dead threshold (all False before initialisation)."""
        if not self.ready:
            return np.zeros(self.k, dtype=bool)
        return self.counts >= self.dead_threshold(dead_fraction)

    def reseed_dead(self, dead_fraction: float, sample: np.ndarray, weights=None,
                    iters: int = 10) -> list[int]:
        """Re-seed every dead prototype by splitting a live one (module docstring); returns the
        indices re-seeded. `sample` [m, dim] stands for the recent vectors, `weights` [m] their
        weights (decay**age). A prototype whose parent cannot be split stays dead until a later
        call."""
        if not self.ready or dead_fraction <= 0:
            return []
        x = self._check(sample)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
        done: list[int] = []
        for i in range(self.k):
            threshold = self.dead_threshold(dead_fraction)
            if self.counts[i] >= threshold or len(x) < 2:
                continue
            live = self.counts >= threshold
            if not live.any():
                break
            # The parent: the live prototype with the largest share of the k-means objective.
            parent = int(np.argmax(np.where(live, self.counts * self.spread, -np.inf)))
            d = _sq_dists(x, self.centers)
            d[:, ~live] = np.inf  # members are taken from live prototypes only
            member = np.argmin(d, axis=1) == parent
            if self._split(parent, i, x[member], w[member], threshold, iters):
                done.append(i)
        self.n_reseeded += len(done)
        return done

    def _split(self, parent: int, child: int, x: np.ndarray, w: np.ndarray, threshold: float,
               iters: int) -> bool:
        """Weighted 2-means of the parent's members, started from the two halves of the top
        principal direction (a single member would be a poor seed: in high dimension one noisy
        vector is farther from every other vector than the mean of many, and would capture
        nothing). The parent keeps the half nearer its old centre, the child takes the other."""
        if len(x) < 2 or w.sum() <= 0:
            return False
        mean = _weighted_mean(x, w)
        xc = x - mean
        if not np.any(xc):
            return False
        direction = np.linalg.svd(np.sqrt(w)[:, None] * xc, full_matrices=False)[2][0]
        to_b = xc @ direction > 0
        for _ in range(iters + 1):
            if not to_b.any() or to_b.all() or w[to_b].sum() <= 0 or w[~to_b].sum() <= 0:
                return False
            a, b = _weighted_mean(x[~to_b], w[~to_b]), _weighted_mean(x[to_b], w[to_b])
            new = _sq_dists(x, b[None, :])[:, 0] < _sq_dists(x, a[None, :])[:, 0]
            if np.array_equal(new, to_b):
                break
            to_b = new
        old = self.centers[parent][None, :]
        if _sq_dists(old, b[None, :])[0, 0] < _sq_dists(old, a[None, :])[0, 0]:
            a, b, to_b = b, a, ~to_b
        share = float(w[to_b].sum() / w.sum())
        total = float(self.counts[parent])
        # A floor keeps the new prototype from being declared dead again at once.
        child_count = max(share * total, min(2.0 * threshold, total / 2.0))
        self.centers[parent], self.centers[child] = a, b
        self.counts[parent], self.counts[child] = total - child_count, child_count
        self.spread[parent] = float(_weighted_mean(_sq_dists(x[~to_b], a[None, :])[:, 0],
                                                   w[~to_b]))
        self.spread[child] = float(_weighted_mean(_sq_dists(x[to_b], b[None, :])[:, 0], w[to_b]))
        return True

    # ------------------------------------------------------------------ queries

    def assign(self, features: np.ndarray) -> np.ndarray:
        """Index of the nearest prototype of each row (int64 [m])."""
        x = self._check(features)
        if not self.ready:
            raise HarnessError(f"prototypes not initialised yet ({self.n_seen} of "
                               f"{self.init_size} vectors seen)")
        return np.argmin(_sq_dists(x, self.centers), axis=1).astype(np.int64)

    def distance_matrix(self, metric: str = "half_sq_euclidean") -> np.ndarray:
        """[k, k] expected distances between members of prototypes (module docstring)."""
        c, s = self.centers, self.spread
        if metric == "half_sq_euclidean":
            d = (_sq_dists(c, c) + s[:, None] + s[None, :]) / 2.0
            np.fill_diagonal(d, s)
        elif metric == "euclidean":
            d = np.sqrt(_sq_dists(c, c) + s[:, None] + s[None, :])
            np.fill_diagonal(d, np.sqrt(2.0 * s))
        elif metric == "cosine":
            norms = np.linalg.norm(c, axis=1, keepdims=True)
            unit = np.where(norms > 0, c / np.maximum(norms, 1e-300), 0.0)
            d = 1.0 - np.clip(unit @ unit.T, -1.0, 1.0)
            np.fill_diagonal(d, 0.0)
        else:
            raise HarnessError(f"unknown prototype metric {metric!r}; use one of {', '.join(METRICS)}")
        return d

    def densities(self, estimator: str = "inverse_mean_distance",
                  metric: str = "half_sq_euclidean", **options) -> np.ndarray:
        """Density alpha per prototype, from prototype distances weighted by counts."""
        if not self.ready:
            raise HarnessError("prototypes not initialised yet")
        weights = np.maximum(self.counts, 0.0)
        return estimate_density(self.distance_matrix(metric), estimator, weights=weights, **options)

    def nbytes(self) -> int:
        """Bytes held by the arrays of the state (centres, counts, spreads, buffer)."""
        return (self.centers.nbytes + self.counts.nbytes + self.spread.nbytes
                + sum(b.nbytes for b in self._buffer))

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        """Torch tensors and plain Python values (readable with torch.load(weights_only=True))."""
        return {
            "k": self.k, "dim": self.dim, "seed": self.seed, "decay": self.decay,
            "init_size": self.init_size, "init_iters": self.init_iters,
            "rng": self.rng.bit_generator.state,
            "centers": torch.from_numpy(self.centers.copy()),
            "counts": torch.from_numpy(self.counts.copy()),
            "spread": torch.from_numpy(self.spread.copy()),
            "n_seen": self.n_seen,
            "n_reseeded": self.n_reseeded,
            "buffer": (torch.from_numpy(np.stack(self._buffer)) if self._buffer
                       else torch.zeros(0, self.dim, dtype=torch.float64)),
        }

    def load_state_dict(self, state: dict) -> None:
        if int(state["k"]) != self.k or int(state["dim"]) != self.dim:
            raise HarnessError(f"prototype state has k={state['k']}, dim={state['dim']}; "
                               f"this object has k={self.k}, dim={self.dim}")
        self.seed, self.decay = int(state["seed"]), float(state["decay"])
        self.init_size, self.init_iters = int(state["init_size"]), int(state["init_iters"])
        self.rng.bit_generator.state = state["rng"]
        self.centers = state["centers"].numpy().astype(np.float64).copy()
        self.counts = state["counts"].numpy().astype(np.float64).copy()
        self.spread = state["spread"].numpy().astype(np.float64).copy()
        self.n_seen = int(state["n_seen"])
        self.n_reseeded = int(state.get("n_reseeded", 0))
        self._buffer = [row.copy() for row in state["buffer"].numpy().astype(np.float64)]

    @classmethod
    def from_state_dict(cls, state: dict) -> OnlinePrototypes:
        obj = cls(int(state["k"]), int(state["dim"]), int(state["seed"]), float(state["decay"]),
                  int(state["init_size"]), int(state["init_iters"]))
        obj.load_state_dict(state)
        return obj
