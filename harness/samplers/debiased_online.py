"""Density-aware sampling with online prototypes, for spaces too large to enumerate.

Observation. Every `observe_every` steps (warm-up included) the runner calls `observe_gradients`
after a path's backward: the sampler reads the `.grad` already computed by the training step for
the selected layer groups (default: the first 3; no extra forward or backward), projects each
layer's gradient to proj_dim / L dimensions with a seeded Gaussian matrix, scales each layer to
unit norm, concatenates and divides by sqrt(L) (so ||u - v||^2 / 2 is the layer-averaged cosine
distance), and feeds that embedding to `OnlinePrototypes` (k prototypes, online k-means). With
several paths per step (not the case for this sampler) `.grad` would hold the running sum.
The (encoding, embedding) pair also enters a reservoir of `reservoir` entries (Algorithm R with
self.rng), a uniform sample of the observed architectures.

Densities. Every `refresh_every` steps and at every epoch end, prototype densities alpha_i
(estimator over prototype distances weighted by counts, `OnlinePrototypes.densities`) and
P_i = softmax(mapping(alpha / mean) / tau) are recomputed, and the reservoir's embeddings are
re-labelled with their current nearest prototype.

Drawing (after warm-up, once the prototypes exist): a proposal a ~ uniform(space) has no gradient,
so it is assigned to the prototype of its nearest reservoir entry by Hamming distance of the
encodings (ties: the first entry); it is accepted with probability P_proto / max P (rejection
sampling), else a new proposal is drawn, up to `max_tries`; then the last proposal is taken. The
resulting distribution over architectures is proportional to exp(logit of the assigned
prototype) -- the per-architecture softmax of the enumerable sampler, with prototypes in place of
networks -- truncated by max_tries.

Importance weighting [on]: after warm-up the observed architectures come from the biased draw,
not from the uniform measure the densities are defined on; each observation is therefore counted
with weight 1 / accept[its prototype] (clipped at max_tries), see `observation_weight`.

Options [defaults]: warmup_epochs [0], k [16], proj_dim [256 total], layers [None], observe_every
[10], refresh_every [100 steps], reservoir [512], max_tries [20], tau [7.0], estimator
["inverse_mean_distance"], bandwidth ["median"], mapping ["neg_density"], normalize ["mean", over
observed items, i.e. weighted by counts], metric ["half_sq_euclidean"], decay [0.99 per observed
vector], init_size [4k], importance_weighting [True].

Memory: k * proj_dim (prototypes) + reservoir * (proj_dim + n_positions) + the base class's
per-key sample counts (which, as for every sampler, grow with the number of distinct
architectures drawn).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness.density.features import GaussianProjection, select_feature_tensors
from harness.density.mapping import density_logits, softmax
from harness.density.prototypes import METRICS, OnlinePrototypes
from harness.errors import HarnessError
from harness.samplers.base import EpochContext, Sampler, register_sampler
from harness.samplers.density_options import DensityOptions
from harness.samplers.options import option
from harness.spaces.base import Arch, SearchSpace


@dataclass(frozen=True)
class OnlineOptions(DensityOptions):
    k: int = option(16, "number of prototypes", minimum=1)
    proj_dim: int = option(256, "embedding dimension (split over the selected tensors)", minimum=1)
    observe_every: int = option(10, "steps between observed gradients", minimum=1)
    refresh_every: int = option(100, "steps between density refreshes", minimum=1)
    reservoir: int = option(512, "reservoir of (architecture, embedding) pairs", minimum=1)
    max_tries: int = option(20, "rejection-sampling proposals per draw", minimum=1)
    metric: str = option("half_sq_euclidean", "distance between prototypes", choices=METRICS)
    decay: float = option(0.99, "prototype count decay per observation (forgetting)",
                          minimum=0.0, exclusive=True)
    init_size: int | None = option(None, "vectors buffered before k-means++ (null = 4k)",
                                   minimum=1)
    importance_weighting: bool = option(True, "weight observations by 1 / acceptance once "
                                        "active, so densities stay those of the uniform measure")

    def check(self, sampler: str) -> None:
        super().check(sampler)
        if self.decay > 1:
            raise HarnessError(f"sampler '{sampler}': decay must be in (0, 1], got {self.decay}")


@register_sampler("debiased-online",
                  "density-aware sampling with online gradient prototypes (any space)")
class DebiasedOnlineSampler(Sampler):
    Options = OnlineOptions

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0, **options: Any):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        o: OnlineOptions = self.opts
        self.k, self.proj_dim, self.layers = o.k, o.proj_dim, o.layers
        self.observe_every, self.refresh_every = o.observe_every, o.refresh_every
        self.reservoir_size, self.max_tries = o.reservoir, o.max_tries
        self.tau, self.estimator, self.bandwidth = o.tau, o.estimator, o.bandwidth
        self.mapping, self.normalize, self.metric = o.mapping, o.normalize, o.metric
        self.importance_weighting = o.importance_weighting
        self.prototypes = OnlinePrototypes(self.k, self.proj_dim, seed, o.decay, o.init_size)
        self._projections: dict[int, GaussianProjection] = {}  # by output dim, seeded
        self.n_positions = space.n_positions
        enc_len = len(space.encoding(space.sample(np.random.default_rng(0))))
        self.res_enc = np.zeros((0, enc_len), dtype=np.int64)
        self.res_emb = np.zeros((0, self.proj_dim), dtype=np.float32)
        self.res_labels = np.zeros(0, dtype=np.int64)
        self.n_observed = 0
        self.epochs_done = 0
        self.last_refresh = -1
        self.probs: list[float] | None = None  # per prototype
        self.accept: np.ndarray | None = None
        self.proposals = 0
        self.accepted = 0

    def attach(self, supernet, probe_batch=None, loss_fn=None) -> None:
        self._layer_groups(supernet)

    # ------------------------------------------------------------------ observation

    def wants_gradients(self, step: int) -> bool:
        return step % self.observe_every == 0

    def layer_dims(self, n_layers: int) -> list[int]:
        """proj_dim split over the layers (the first ones take the remainder)."""
        base, extra = divmod(self.proj_dim, n_layers)
        if base == 0:
            raise HarnessError(f"debiased-online: proj_dim {self.proj_dim} < {n_layers} layers")
        return [base + (1 if i < extra else 0) for i in range(n_layers)]

    def embed_gradients(self, supernet) -> np.ndarray:
        """[proj_dim] embedding of the gradients currently in .grad of the selected layers."""
        groups = self._layer_groups(supernet)
        parts = []
        with torch.no_grad():
            for index, ((_, params), dim) in enumerate(zip(groups, self.layer_dims(len(groups)))):
                flat = torch.cat([(p.grad if p.grad is not None else torch.zeros_like(p))
                                  .reshape(-1).float() for p in params])
                if dim not in self._projections:
                    self._projections[dim] = GaussianProjection(self.seed, dim)
                vec = self._projections[dim](index, flat)
                norm = vec.norm()
                parts.append(vec / norm if norm > 0 else vec)
            out = torch.cat(parts) / math.sqrt(len(parts))
        return out.double().cpu().numpy()

    def _layer_groups(self, supernet):
        # Selecting tensors walks every module: once per supernet, not once per observation.
        cached = getattr(self, "_groups_cache", None)
        if cached is None or cached[0]() is not supernet:
            tensors = select_feature_tensors(supernet, self.layers, self.opts.feature_set)
            self._groups_cache = (weakref.ref(supernet), [(n, [p]) for n, p in tensors])
        return self._groups_cache[1]

    def observe_gradients(self, step: int, arch: Arch, supernet) -> None:
        embedding = self.embed_gradients(supernet)
        if np.all(np.isfinite(embedding)):  # AMP overflow steps (inf/nan grads) are skipped
            self.observe_embedding(arch, embedding)

    def observation_weight(self, arch: Arch) -> float:
        """Importance weight of an observed architecture: 1 / its acceptance probability.

        Once active, architectures are drawn with probability proportional to accept[label]
        instead of uniformly; weighting each observation by 1 / accept[label] (clipped at
        max_tries) keeps the prototype counts, hence the densities, those of the uniform measure
        over the space, as in the enumerable sampler, instead of feeding the sampling bias back.
        """
        if not self.importance_weighting or not self.active:
            return 1.0
        label = self.nearest_label(arch)
        if label < 0:
            return 1.0
        return float(min(1.0 / self.accept[label], self.max_tries))

    def observe_embedding(self, arch: Arch, embedding: np.ndarray) -> None:
        """Absorb one architecture's embedding (also usable without a supernet, e.g. in tests)."""
        emb = np.asarray(embedding, dtype=np.float64).reshape(-1)
        self.prototypes.update(emb[None, :], weights=[self.observation_weight(arch)])
        enc = self.space.encoding(tuple(arch)).astype(np.int64)
        label = int(self.prototypes.assign(emb[None, :])[0]) if self.prototypes.ready else -1
        self.n_observed += 1
        if len(self.res_enc) < self.reservoir_size:
            self.res_enc = np.vstack([self.res_enc, enc[None, :]])
            self.res_emb = np.vstack([self.res_emb, emb[None, :].astype(np.float32)])
            self.res_labels = np.append(self.res_labels, label)
        else:
            j = int(self.rng.integers(self.n_observed))
            if j < self.reservoir_size:
                self.res_enc[j] = enc
                self.res_emb[j] = emb.astype(np.float32)
                self.res_labels[j] = label

    # ------------------------------------------------------------------ densities

    def refresh(self) -> None:
        """Recompute prototype densities and probabilities; relabel the reservoir."""
        if not self.prototypes.ready or len(self.res_enc) == 0:
            return
        self.res_labels = self.prototypes.assign(self.res_emb.astype(np.float64))
        alpha = self.prototypes.densities(self.estimator, self.metric, bandwidth=self.bandwidth)
        logits = density_logits(alpha, self.tau, self.mapping, self.normalize,
                                weights=self.prototypes.counts)
        self._set_probs([float(p) for p in softmax(logits)])
        self._alpha = [float(a) for a in alpha]

    def _set_probs(self, probs: list[float] | None) -> None:
        self.probs = probs
        if probs is None:
            self.accept = None
        else:
            p = np.asarray(probs, dtype=np.float64)
            self.accept = p / p.max()

    @property
    def active(self) -> bool:
        return self.epochs_done >= self.warmup_epochs and self.accept is not None

    # ------------------------------------------------------------------ drawing

    def nearest_label(self, arch: Arch) -> int:
        enc = self.space.encoding(tuple(arch))
        ham = (self.res_enc != enc[None, :]).sum(1)
        return int(self.res_labels[int(np.argmin(ham))])

    def sample(self, step: int) -> Arch:
        if self.epochs_done >= self.warmup_epochs and (
                self.last_refresh < 0 or step - self.last_refresh >= self.refresh_every):
            self.refresh()
            self.last_refresh = step
        if not self.active:
            return self.space.sample(self.rng)
        arch = None
        for _ in range(self.max_tries):
            arch = self.space.sample(self.rng)
            self.proposals += 1
            label = self.nearest_label(arch)
            if label < 0 or self.rng.random() < self.accept[label]:
                self.accepted += 1
                return arch
        return arch

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict:
        self.epochs_done = epoch + 1
        self.refresh()
        ready = self.prototypes.ready
        snapshot = {
            "epoch": epoch,
            "ready": ready,
            "active": self.active,
            "n_observed": self.n_observed,
            "prototype_density": getattr(self, "_alpha", None) if ready else None,
            "prototype_probability": self.probs,
            "prototype_counts": [float(c) for c in self.prototypes.counts] if ready else None,
            "prototype_spread": [float(s) for s in self.prototypes.spread] if ready else None,
            "reservoir_label_counts": (np.bincount(self.res_labels[self.res_labels >= 0],
                                                   minlength=self.k).tolist()
                                       if ready else None),
            "acceptance_rate": self.accepted / self.proposals if self.proposals else None,
            "proposals": self.proposals,
            "n_distinct_sampled": len(self.counts),
            "options": dict(self.options),
        }
        return snapshot

    # ------------------------------------------------------------------ state

    def state_nbytes(self) -> int:
        """Bytes of the density state (prototypes + reservoir), excluding sample counts."""
        return (self.prototypes.nbytes() + self.res_enc.nbytes + self.res_emb.nbytes
                + self.res_labels.nbytes)

    def state_dict(self) -> dict:
        state = super().state_dict()
        state.update({
            "prototypes": self.prototypes.state_dict(),
            "res_enc": torch.from_numpy(self.res_enc.copy()),
            "res_emb": torch.from_numpy(self.res_emb.copy()),
            "res_labels": torch.from_numpy(self.res_labels.copy()),
            "n_observed": self.n_observed,
            "epochs_done": self.epochs_done,
            "last_refresh": self.last_refresh,
            "probs": None if self.probs is None else list(self.probs),
            "alpha": getattr(self, "_alpha", None),
            "proposals": self.proposals,
            "accepted": self.accepted,
        })
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.prototypes.load_state_dict(state["prototypes"])
        self.res_enc = state["res_enc"].numpy().copy()
        self.res_emb = state["res_emb"].numpy().copy()
        self.res_labels = state["res_labels"].numpy().copy()
        self.n_observed = int(state["n_observed"])
        self.epochs_done = int(state["epochs_done"])
        self.last_refresh = int(state["last_refresh"])
        self._set_probs(state["probs"])
        if state.get("alpha") is not None:
            self._alpha = list(state["alpha"])
        self.proposals, self.accepted = int(state["proposals"]), int(state["accepted"])
