"""Density-aware ("debiased") sampling for enumerable spaces (Debiased One-Shot NAS).

Before `warmup_epochs` are over the sampler draws uniformly over codes (exactly as "uniform").
At the end of epoch e (0-based), when e + 1 >= warmup_epochs and
(e + 1 - warmup_epochs) % recompute_every == 0, it recomputes densities on the fixed probe batch
(128 supernet-validation images) and from then on draws from

    P(network) = softmax(mapping(alpha / normaliser) / tau)          (eq. 8 reading)

where alpha is the density of each network (eq. 5-6: inverse mean distance, or eq. 3: KDE) in the
space of gradients of the early layers' shared weights (cosine distance per layer, averaged).
With warmup_epochs = 0 the first recompute is at the end of epoch recompute_every - 1.

Options (defaults in brackets) -- every one a reading or engineering choice:
  tau [7.0]            temperature; the paper's best on NAS-Bench-Macro. Large tau -> uniform.
  estimator ["inverse_mean_distance"] | "kde";  bandwidth ["median"] | float (KDE only).
  mapping ["neg_density"] | "neg_log_density" | "inverse_density" | "rank"  (harness.density.mapping)
  normalize ["mean"] | None: divide alpha by its mean over codes before the mapping, so tau is
                       relative to the average density (None = raw alpha, the literal eq. 8).
  distance ["cosine"] | "hamming" | "cka": gradient cosine (the method), Hamming distance of the
                       encodings (a gradient-free ablation), or 1 - linear CKA of the feature maps
                       at `cka_layer` [the last selected layer] (ablation).
  layers [None = the first 3 layer groups, harness.density.DEFAULT_EARLY_LAYERS]: layer group
                       names (supernet.layer_groups()) whose gradients describe a network.
  recompute_every [None = auto: 1 when densities are computed for <= 100 networks, else 5]
                       epochs between recomputations (a full recompute costs one forward and
                       backward per network, e.g. 3969 on NAS-Bench-Macro).
  distinct_only [True]: compute features once per equivalence class, on its canonical code's
                       path (as evaluation does); every code of the class takes that density, and
                       the estimator weights each class by its number of codes, i.e. the other
                       codes of a class count as being at distance 0 from it. False: every code is
                       its own class and gets its own features. (In the supernet equivalent codes
                       are different paths through different weights, so the two differ.)
  draw ["codes"] | "classes": "codes" gives every code the probability softmax over codes of its
                       class's logit (P(class) proportional to size * exp(logit)), which is what a
                       code-level computation gives and tends to the uniform sampler's code
                       distribution as tau -> infinity; "classes" draws a class from the softmax
                       over classes (each network once) and then one of its codes uniformly.
  max_archs [None = all]: if there are more networks than this, compute features only for a
                       seeded random subset of max_archs; every other network takes the density
                       of its nearest computed network by Hamming distance of the encodings (ties:
                       first in enumeration order). The estimator then runs on the subset only,
                       weighted by the subset's class sizes.
  proj_dim [None]: project each layer's gradient to this many dimensions (seeded Gaussian, JL)
                       before the cosine; None keeps exact gradients (memory n * dim floats).
  figure_archs [64]: a fixed seeded subset of networks on which, every epoch (warm-up included),
                       the per-layer mean pairwise cosine distance of gradients on the probe batch
                       and on a training batch is recorded (the paper's Figure 2).
  track_density_during_warmup [None = auto: True when <= 100 networks]: also compute (without
                       using) densities at each warm-up epoch, for the density-vs-epoch rank
                       correlation of Table 6.

Snapshots (runner writes snapshots/epoch_XXXX.json): epoch, active (whether draws follow P
from now on), computed (whether densities were computed this epoch), keys (the computed
networks, canonical keys), density, probability (per code of each listed network), class_size,
class_probability, per_layer_mean_distance_probe / _train {layer: float}, figure_keys,
sample_counts, recompute_seconds. density / probability are null in epochs without a
computation.

Fixed subsets (max_archs, figure_archs) come from a generator seeded by (seed, a constant) at
construction; every per-step draw comes from self.rng only.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from harness.density.distances import (
    cka_distance_matrix,
    feature_maps,
    hamming_distance_matrix,
    layer_averaged_cosine,
    per_layer_mean_distance,
)
from harness.density.estimators import ESTIMATORS, estimate_density
from harness.density.features import GaussianProjection, gradient_features, select_layer_groups
from harness.density.mapping import MAPPINGS, NORMALIZATIONS, density_logits
from harness.errors import HarnessError, did_you_mean
from harness.samplers.base import EpochContext, Sampler, register_sampler
from harness.spaces.base import Arch, SearchSpace

DISTANCES = ("cosine", "hamming", "cka")
DRAWS = ("codes", "classes")
SMALL_SPACE = 100  # networks; below this, recompute every epoch and track density in warm-up
LARGE_SPACE_RECOMPUTE_EVERY = 5


def reject_unknown(name: str, options: dict, known: list[str]) -> None:
    if options:
        bad = sorted(options)[0]
        raise HarnessError(f"sampler '{name}': unknown option(s) {sorted(options)}"
                           f"{did_you_mean(bad, known)}; known: {', '.join(sorted(known))}")


def class_code_probabilities(logits: np.ndarray, sizes: np.ndarray, draw: str
                             ) -> tuple[np.ndarray, np.ndarray]:
    """(probability of each class, probability of each single code of the class)."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max())
    if draw == "codes":
        mass = sizes * e
        class_p = mass / mass.sum()
    else:
        class_p = e / e.sum()
    return class_p, class_p / sizes


@register_sampler("debiased", "density-aware sampling (Debiased One-Shot NAS), enumerable spaces")
class DebiasedSampler(Sampler):
    OPTIONS = ["warmup_epochs", "recompute_every", "tau", "estimator", "bandwidth", "mapping",
               "normalize", "distance", "layers", "distinct_only", "draw", "max_archs", "proj_dim",
               "figure_archs", "track_density_during_warmup", "cka_layer"]

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0,
                 recompute_every: int | None = None, tau: float = 7.0,
                 estimator: str = "inverse_mean_distance", bandwidth: str | float = "median",
                 mapping: str = "neg_density", normalize: str | None = "mean",
                 distance: str = "cosine", layers: list[str] | None = None,
                 distinct_only: bool = True, draw: str = "codes", max_archs: int | None = None,
                 proj_dim: int | None = None, figure_archs: int = 64,
                 track_density_during_warmup: bool | None = None, cka_layer: str | None = None,
                 **options: Any):
        reject_unknown("debiased", options, self.OPTIONS)
        super().__init__(space, seed)
        if not space.enumerable:
            raise HarnessError(f"sampler 'debiased' needs an enumerable space; '{space.name}' has "
                               f"{space.size} architectures: use --sampler debiased-online")
        ESTIMATORS.get(estimator)
        MAPPINGS.get(mapping)
        if distance not in DISTANCES:
            raise HarnessError(f"debiased: unknown distance '{distance}'; use {', '.join(DISTANCES)}")
        if draw not in DRAWS:
            raise HarnessError(f"debiased: unknown draw '{draw}'; use {', '.join(DRAWS)}")
        if normalize not in NORMALIZATIONS:
            raise HarnessError(f"debiased: unknown normalize {normalize!r}; use 'mean' or null")
        if not float(tau) > 0:
            raise HarnessError(f"debiased: tau must be > 0, got {tau}")
        self.options = dict(warmup_epochs=warmup_epochs, recompute_every=recompute_every, tau=tau,
                            estimator=estimator, bandwidth=bandwidth, mapping=mapping,
                            normalize=normalize, distance=distance, layers=layers,
                            distinct_only=distinct_only, draw=draw, max_archs=max_archs,
                            proj_dim=proj_dim, figure_archs=figure_archs,
                            track_density_during_warmup=track_density_during_warmup,
                            cka_layer=cka_layer)
        self.warmup_epochs = int(warmup_epochs)
        self.tau, self.estimator, self.bandwidth = float(tau), estimator, bandwidth
        self.mapping, self.normalize, self.distance = mapping, normalize, distance
        self.layers, self.draw, self.cka_layer = layers, draw, cka_layer
        self.projection = GaussianProjection(seed, proj_dim) if proj_dim else None

        # Equivalence classes: self.classes[i] is the canonical code, self.members[i] its codes.
        groups: dict[Arch, list[Arch]] = {}
        for arch in space.enumerate():
            rep = space.canonical(arch) if distinct_only else arch
            groups.setdefault(rep, []).append(arch)
        self.classes: list[Arch] = list(groups)
        self.members: list[list[Arch]] = [groups[c] for c in self.classes]
        self.sizes = np.array([len(m) for m in self.members], dtype=np.float64)
        n = len(self.classes)

        fixed = np.random.default_rng([seed, 0xDEB1A5])
        if max_archs is not None and n > int(max_archs):
            self.computed = np.sort(fixed.choice(n, int(max_archs), replace=False))
            enc = np.stack([space.encoding(c) for c in self.classes])
            sub = enc[self.computed]
            self.nearest = np.empty(n, dtype=np.int64)
            for start in range(0, n, 4096):
                block = enc[start:start + 4096]
                ham = (block[:, None, :] != sub[None, :, :]).sum(-1)
                self.nearest[start:start + 4096] = ham.argmin(1)
        else:
            self.computed = np.arange(n)
            self.nearest = np.arange(n)
        n_figure = min(int(figure_archs), n)
        self.figure = np.sort(fixed.choice(n, n_figure, replace=False)) if n_figure > 0 else None

        n_computed = len(self.computed)
        self.recompute_every = int(recompute_every) if recompute_every else (
            1 if n_computed <= SMALL_SPACE else LARGE_SPACE_RECOMPUTE_EVERY)
        if self.recompute_every < 1:
            raise HarnessError(f"debiased: recompute_every must be >= 1, got {recompute_every}")
        self.track_warmup = (n_computed <= SMALL_SPACE if track_density_during_warmup is None
                             else bool(track_density_during_warmup))

        self.class_probs: list[float] | None = None  # per class, once active
        self._cum: np.ndarray | None = None

    # ------------------------------------------------------------------ drawing

    @property
    def active(self) -> bool:
        return self._cum is not None

    def sample(self, step: int) -> Arch:
        if self._cum is None:
            return self.space.sample(self.rng)
        index = int(np.searchsorted(self._cum, self.rng.random(), side="right"))
        members = self.members[min(index, len(self.members) - 1)]
        if len(members) == 1:
            return members[0]
        return members[int(self.rng.integers(len(members)))]

    def _set_probs(self, class_probs: list[float] | None) -> None:
        self.class_probs = class_probs
        if class_probs is None:
            self._cum = None
        else:
            cum = np.cumsum(np.asarray(class_probs, dtype=np.float64))
            self._cum = cum / cum[-1]

    def code_probability(self, arch: Arch) -> float:
        """Probability of drawing this exact code at a step (uniform before activation)."""
        if self.class_probs is None:
            return 1.0 / float(self.sizes.sum())
        rep = self.space.canonical(arch) if self.options["distinct_only"] else tuple(arch)
        i = self._class_index()[rep]
        return self.class_probs[i] / self.sizes[i]

    def _class_index(self) -> dict[Arch, int]:
        if not hasattr(self, "_index"):
            self._index = {c: i for i, c in enumerate(self.classes)}
        return self._index

    # ------------------------------------------------------------------ densities

    def compute_density(self, context: EpochContext) -> np.ndarray:
        """Density of each computed network (self.computed order) on the probe batch."""
        archs = [self.classes[i] for i in self.computed]
        supernet = context.supernet
        if self.distance == "cosine":
            feats = gradient_features(supernet, archs, context.probe_batch, context.loss_fn,
                                      self.layers, self.projection)
            dist = layer_averaged_cosine(feats)
            del feats
        elif self.distance == "hamming":
            dist = hamming_distance_matrix(self.space, archs)
        else:
            layer = self.cka_layer or select_layer_groups(supernet, self.layers)[-1][0]
            dist = cka_distance_matrix(feature_maps(supernet, archs, context.probe_batch, layer))
        weights = self.sizes[self.computed]
        return estimate_density(dist, self.estimator, weights=weights, bandwidth=self.bandwidth)

    def probabilities_from_density(self, alpha_computed: np.ndarray
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities, per-code probabilities) over all classes."""
        alpha = np.asarray(alpha_computed, dtype=np.float64)[self.nearest]
        logits = density_logits(alpha, self.tau, self.mapping, self.normalize, weights=self.sizes)
        return class_code_probabilities(logits, self.sizes, self.draw)

    def _figures(self, context: EpochContext) -> tuple[dict, dict, list[str]]:
        if self.figure is None:
            return {}, {}, []
        archs = [self.classes[i] for i in self.figure]
        probe = gradient_features(context.supernet, archs, context.probe_batch, context.loss_fn,
                                  self.layers, self.projection)
        train = gradient_features(context.supernet, archs, context.train_batch, context.loss_fn,
                                  self.layers, self.projection)
        return (per_layer_mean_distance(probe), per_layer_mean_distance(train),
                [self.space.key(a) for a in archs])

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict:
        started = time.perf_counter()
        done = epoch + 1
        after_warmup = done >= self.warmup_epochs
        recompute = after_warmup and (done - self.warmup_epochs) % self.recompute_every == 0
        track = (not after_warmup) and self.track_warmup
        probe_fig, train_fig, figure_keys = self._figures(context)
        snapshot: dict[str, Any] = {
            "epoch": epoch, "computed": bool(recompute or track), "active": False,
            "keys": [self.space.key(self.classes[i]) for i in self.computed],
            "class_size": [int(s) for s in self.sizes[self.computed]],
            "density": None, "probability": None, "class_probability": None,
        }
        density_seconds = None
        if recompute or track:
            t0 = time.perf_counter()
            alpha = self.compute_density(context)
            class_p, code_p = self.probabilities_from_density(alpha)
            density_seconds = time.perf_counter() - t0
            snapshot["density"] = [float(a) for a in alpha]
            snapshot["probability"] = [float(p) for p in code_p[self.computed]]
            snapshot["class_probability"] = [float(p) for p in class_p[self.computed]]
            if recompute:
                self._set_probs([float(p) for p in class_p])
        snapshot.update({
            "active": self.active,
            "per_layer_mean_distance_probe": probe_fig,
            "per_layer_mean_distance_train": train_fig,
            "figure_keys": figure_keys,
            "sample_counts": dict(self.counts),
            "recompute_seconds": density_seconds,
            "seconds": time.perf_counter() - started,
            "options": {k: v for k, v in self.options.items()},
        })
        return snapshot

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["class_probs"] = None if self.class_probs is None else list(self.class_probs)
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        probs = state.get("class_probs")
        if probs is not None and len(probs) != len(self.classes):
            raise HarnessError(f"debiased sampler state has {len(probs)} class probabilities; "
                               f"this space/options give {len(self.classes)} classes")
        self._set_probs(None if probs is None else [float(p) for p in probs])
