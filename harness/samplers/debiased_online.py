"""Density-aware sampling with online prototypes, for spaces too large to enumerate.

Observation. Every `observe_every` steps (warm-up included) the runner calls `observe_gradients`
after a path's backward. With embedding="probe" (default) the sampler computes that path's
gradient on the first `probe_images` images of the run's fixed probe batch, stored by `attach`
(`gradient_features`: the training .grad, weights, requires_grad flags and BN running statistics
are left as they were). Every observation then sees the same images, so embeddings differ by
architecture and training time, not by batch. embedding="train" reads the .grad of the training
step instead: free, but each step's batch adds a direction of its own. An audit of that reading
found the per-batch noise swamping the differences between architectures (uniform in effect).
Each selected tensor's gradient (`select_feature_tensors`) is projected to proj_dim / L dimensions
with a seeded Gaussian matrix and scaled to unit norm; the parts are concatenated and divided by
sqrt(L), so ||u - v||^2 / 2 is the layer-averaged cosine distance (`features.embed`).

Centering [on]. The embedding minus the running mean embedding (weighted by decay**age, the
prototypes' clock) is what is clustered and stored. The direction all architectures share drifts
as the supernet trains; removed, it cannot make clusters of training time. Two embeddings of one
moment keep their distance, so the density scale is unchanged.

Prototypes: `OnlinePrototypes` (k centres, online k-means, counts decayed by `decay` per
observation). A prototype whose decayed count falls below `dead_fraction` of the mean count is
dead; with reseed [on] it is re-seeded at once by splitting the live prototype with the largest
count * spread (weighted 2-means over that prototype's reservoir members; deterministic).

Reservoir: the last `reservoir` observations (a ring buffer) of (encoding, embedding, label,
observation index, importance weight). Every use weighs an entry by decay**age, the weight the
prototypes give the same observation, cut at age `reservoir` (0.99**512 = 0.6% of the weight).
With decay = 1 the prototypes never forget, and the reservoir is a uniform sample of all
observations instead (Algorithm R, self.rng), each entry of weight 1.

Densities. Every `refresh_every` steps (after warm-up), at every epoch end and after a re-seed:
prototype densities alpha_i (`OnlinePrototypes.densities`), P_i = softmax(mapping(alpha) / tau),
accept_i = P_i / max P; the reservoir is re-labelled with its nearest prototypes, and the share of
the space each prototype stands for is estimated from 256 fixed uniform codes.

Drawing (after warm-up, once densities exist): a proposal a ~ uniform(space) has no gradient. It
takes the label with the largest decay**age-weighted vote among all reservoir entries at minimal
Hamming distance of the encodings (ties: the lower prototype index). It is accepted with
probability accept[label], else a new proposal is drawn; the last of `max_tries` is taken anyway.
So P(a) = (accept[label(a)] (1 - q^(T-1)) / A + q^(T-1)) / N, with A = sum_i share_i accept_i,
q = 1 - A, T = max_tries, N = the space's size (`distribution()`).

Importance weighting [on]: once active, observed architectures come from the biased draw; each
observation counts 1 / accept[its label] (at most max_tries), so counts and densities stay those
of the uniform measure.

Cost, embedding="probe": an observation is one forward and one backward of probe_images images
on one path, with weight gradients of the selected tensors only: about probe_images / B of a
training step at batch B. The share of training time is then probe_images / (B * observe_every),
with the defaults (32 and 32) 1 / B: 0.2% at the published batch 512 (pooling, NAS-Bench-Macro,
MobileNet), 0.4% at 256 (NAS-Bench-201), 1.6% at 64 (the bench's small MobileNet). It stays
below 2% while an observation costs less than 0.64 of a training step. Measured on one CPU
thread, an observation of 32 images costs 0.43 of a step at batch 64 (small MobileNet: 1.3% at
observe_every 32), 0.13 at batch 128 (NAS-Bench-Macro, full width) and 0.37 at batch 128 (smoke
NAS-Bench-201). Small batches on a GPU cost more than their share of images. With a full
reservoir a proposal costs 0.15-0.25 ms and a refresh 7 ms (one CPU thread): far below a CPU
step, but comparable with a GPU step of a few ms when many proposals are rejected.
Observations at the published schedules: 14,400 / 32 = 450 (pooling), 3,360 / 32 = 105
(NAS-Bench-Macro), 24,250 / 32 = 758 (NAS-Bench-201). k = 8 prototypes are seeded after
init_size = 4k = 32 observations, at step 992: within warm-up on pooling (2,400 steps) and
NAS-Bench-201 (4,850), just after it on NAS-Bench-Macro (960). Decay 0.99 keeps about 100
observations, about 3,200 steps. Short runs (smoke, cpu) need observe_every=1, or the sampler
stays in its uniform warm-up; that costs about probe_images / B of a step per step (measured:
0.37 at batch 128 on the smoke NAS-Bench-201).

Options [defaults]: warmup_epochs [0], k [8], embedding ["probe"], probe_images [32], center
[True], proj_dim [256 total], layers [None], feature_set [None], observe_every [32],
refresh_every [100 steps], reservoir [512], max_tries [20], tau [7.0], estimator
["inverse_mean_distance"], bandwidth ["median"], mapping ["neg_density"], normalize [None],
metric ["half_sq_euclidean"], decay [0.99 per observation], dead_fraction [0.1], reseed [True],
init_size [4k], importance_weighting [True].

Memory: k * proj_dim (prototypes) + proj_dim (mean) + reservoir * (proj_dim + encoding + 3)
+ 256 fixed codes + the base class's per-key draw counts (which, as for every sampler, grow with
the number of distinct architectures drawn).
"""

from __future__ import annotations

import math
import weakref
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.stats
import torch
import torch.nn.functional as F

from harness.density.features import (
    GaussianProjection,
    embed,
    gradient_features,
    select_feature_tensors,
)
from harness.density.mapping import density_logits, softmax
from harness.density.prototypes import METRICS, OnlinePrototypes
from harness.errors import HarnessError
from harness.samplers.audit import contingency_test, distribution_summary, verdict
from harness.samplers.base import EpochContext, Sampler, register_sampler, uniform_count_test
from harness.samplers.density_options import DensityOptions
from harness.samplers.options import option
from harness.spaces.base import Arch, SearchSpace

# Fixed uniform codes whose votes estimate the share of the space each prototype stands for.
SHARE_CODES = 256
EMBEDDINGS = ("probe", "train")


@dataclass(frozen=True)
class OnlineOptions(DensityOptions):
    k: int = option(8, "number of prototypes", minimum=1)
    embedding: str = option("probe", "what an observation embeds: probe = the path's gradient on "
                            "the first probe_images images of the fixed probe batch (one "
                            "forward + backward); train = the training step's .grad (free, but "
                            "dominated by per-batch noise)", choices=EMBEDDINGS)
    probe_images: int = option(32, "probe images per observation (embedding=probe)", minimum=1)
    center: bool = option(True, "subtract the running mean embedding (same decay) before "
                          "clustering, so drift shared by all architectures forms no clusters")
    proj_dim: int = option(256, "embedding dimension (split over the selected tensors)", minimum=1)
    observe_every: int = option(32, "steps between observations; cost about probe_images / "
                                "(batch * observe_every) of training", minimum=1)
    refresh_every: int = option(100, "steps between density refreshes", minimum=1)
    reservoir: int = option(512, "last observations kept as (architecture, embedding) pairs",
                            minimum=1)
    max_tries: int = option(20, "rejection-sampling proposals per draw", minimum=1)
    metric: str = option("half_sq_euclidean", "distance between prototypes", choices=METRICS)
    decay: float = option(0.99, "forgetting per observation, shared by prototype counts, the "
                          "mean and reservoir votes", minimum=0.0, exclusive=True)
    dead_fraction: float = option(0.1, "a prototype whose decayed count is below this fraction "
                                  "of the mean count is dead (0 = never)", minimum=0.0)
    reseed: bool = option(True, "re-seed dead prototypes by splitting the live prototype with "
                          "the largest count * spread")
    init_size: int | None = option(None, "vectors buffered before k-means++ (null = 4k)",
                                   minimum=1)
    importance_weighting: bool = option(True, "weight observations by 1 / acceptance once "
                                        "active, so densities stay those of the uniform measure")

    def check(self, sampler: str) -> None:
        super().check(sampler)
        if self.decay > 1:
            raise HarnessError(f"sampler '{sampler}': decay must be in (0, 1], got {self.decay}")
        if self.dead_fraction >= 1:
            raise HarnessError(f"sampler '{sampler}': dead_fraction must be in [0, 1), got "
                               f"{self.dead_fraction}")


def acceptance_design_test(accepted, proposals, expected) -> dict:
    """Accepted proposals per prototype against the designed acceptance: sum over prototypes of
    (a - E)^2 / (E (1 - E / n)), chi-squared with one degree per prototype. E sums the acceptance
    probability in force at each proposal; where it varied, the binomial variance is below the
    one used, so the test is conservative."""
    a, n, e = (np.asarray(v, dtype=np.float64) for v in (accepted, proposals, expected))
    name = "accepted proposals per prototype vs the designed acceptance"
    certain = (n > 0) & (np.isclose(e, n) | (e <= 0))
    if np.any(certain & ~np.isclose(a, e)):
        return {"test": name, "n_draws": int(a.sum()), "statistic": float("inf"),
                "df": int(certain.sum()), "p_value": 0.0,
                "reason": "an outcome the design rules out"}
    keep = (n > 0) & ~certain
    if not keep.any():
        return {"test": name, "n_draws": int(a.sum()), "statistic": None, "df": None,
                "p_value": None, "reason": "no proposal with an uncertain outcome"}
    var = e[keep] * (1.0 - e[keep] / n[keep])
    statistic = float(((a[keep] - e[keep]) ** 2 / var).sum())
    df = int(keep.sum())
    return {"test": name, "n_draws": int(a.sum()), "statistic": statistic, "df": df,
            "p_value": float(scipy.stats.chi2.sf(statistic, df))}


@register_sampler("debiased-online",
                  "density-aware sampling with online gradient prototypes (any space)")
class DebiasedOnlineSampler(Sampler):
    Options = OnlineOptions
    audit_in_tables = True
    # The probe is read, but only its first probe_images images, and attach copes with fewer:
    # the runner's probe_size check would only reject runs that work.
    uses_probe = False

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0, **options: Any):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        o: OnlineOptions = self.opts
        self.k, self.proj_dim, self.layers = o.k, o.proj_dim, o.layers
        self.embedding, self.center = o.embedding, o.center
        self.observe_every, self.refresh_every = o.observe_every, o.refresh_every
        self.reservoir_size, self.max_tries = o.reservoir, o.max_tries
        self.tau, self.estimator, self.bandwidth = o.tau, o.estimator, o.bandwidth
        self.mapping, self.normalize, self.metric = o.mapping, o.normalize, o.metric
        self.decay, self.dead_fraction, self.reseed = o.decay, o.dead_fraction, o.reseed
        self.importance_weighting = o.importance_weighting
        self.prototypes = OnlinePrototypes(self.k, self.proj_dim, seed, o.decay, o.init_size)
        self._projections: dict[int, GaussianProjection] = {}  # by output dim, seeded
        self.n_positions = space.n_positions
        # A generator of its own: the share codes must not move self.rng (resume, draws).
        share_rng = np.random.default_rng([seed, 0x5A4E])
        self.share_enc = np.stack([space.encoding(space.sample(share_rng)).astype(np.int64)
                                   for _ in range(SHARE_CODES)])
        enc_len = self.share_enc.shape[1]
        self.res_enc = np.zeros((0, enc_len), dtype=np.int64)
        self.res_emb = np.zeros((0, self.proj_dim), dtype=np.float32)
        self.res_labels = np.zeros(0, dtype=np.int64)
        self.res_time = np.zeros(0, dtype=np.int64)  # index of the observation
        self.res_weight = np.zeros(0, dtype=np.float64)  # its importance weight
        self.mean_sum = np.zeros(self.proj_dim)
        self.mean_weight = 0.0
        self.n_observed = 0
        self.epochs_done = 0
        self.last_refresh = -1
        self.probs: list[float] | None = None  # per prototype
        self.accept: np.ndarray | None = None
        self.shares: list[float] | None = None  # of the space, per prototype
        self._alpha: list[float] | None = None
        self.proposals = 0
        self.accepted = 0
        self.forced = 0  # draws that took the last proposal after max_tries rejections
        self.active_counts: dict[str, int] = {}  # draws while the rejection step acts
        self.accepted_per_label = np.zeros(self.k, dtype=np.int64)
        self.rejected_per_label = np.zeros(self.k, dtype=np.int64)
        self.expected_per_label = np.zeros(self.k)  # sum of accept[label] over tested proposals
        self._probe: tuple | None = None
        self._loss_fn = None
        self.probe_images_used: int | None = None
        self._votes: tuple | None = None

    def attach(self, supernet, probe_batch=None, loss_fn=None) -> None:
        self._feature_tensors(supernet)  # bad layer names fail here, before training
        if probe_batch is not None:
            x, y = probe_batch
            n = min(self.opts.probe_images, len(x))
            self._probe = (x[:n], y[:n])
            self._loss_fn = loss_fn if loss_fn is not None else F.cross_entropy
            self.probe_images_used = int(n)

    # ------------------------------------------------------------------ observation

    def wants_gradients(self, step: int) -> bool:
        return step % self.observe_every == 0

    def layer_dims(self, n_layers: int) -> list[int]:
        """proj_dim split over the layers (the first ones take the remainder)."""
        base, extra = divmod(self.proj_dim, n_layers)
        if base == 0:
            raise HarnessError(f"debiased-online: proj_dim {self.proj_dim} < {n_layers} layers")
        return [base + (1 if i < extra else 0) for i in range(n_layers)]

    def _projection(self, dim: int) -> GaussianProjection:
        if dim not in self._projections:
            self._projections[dim] = GaussianProjection(self.seed, dim)
        return self._projections[dim]

    def _feature_tensors(self, supernet) -> list[tuple[str, torch.nn.Parameter]]:
        # Selecting tensors walks every module: once per supernet, not once per observation.
        cached = getattr(self, "_tensors_cache", None)
        if cached is None or cached[0]() is not supernet:
            tensors = select_feature_tensors(supernet, self.layers, self.opts.feature_set)
            tensors = [(n, p) for n, p in tensors if p.requires_grad]
            if not tensors:
                raise HarnessError("debiased-online: the selected tensors have no trainable "
                                   "parameters")
            self._tensors_cache = (weakref.ref(supernet), tensors)
        return self._tensors_cache[1]

    def embed_gradients(self, supernet) -> np.ndarray:
        """[proj_dim] embedding of the gradients currently in .grad of the selected tensors."""
        tensors = self._feature_tensors(supernet)
        parts = []
        with torch.no_grad():
            for index, ((_, p), dim) in enumerate(zip(tensors, self.layer_dims(len(tensors)))):
                flat = (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1).float()
                vec = self._projection(dim)(index, flat)
                norm = vec.norm()
                parts.append(vec / norm if norm > 0 else vec)
            out = torch.cat(parts) / math.sqrt(len(parts))
        return out.double().cpu().numpy()

    def embed_probe(self, supernet, arch: Arch) -> np.ndarray:
        """[proj_dim] embedding of `arch`'s gradient on the stored probe images."""
        if self._probe is None:
            raise HarnessError("debiased-online: embedding=probe needs attach(supernet, "
                               "probe_batch, loss_fn) before observations (the runner does "
                               "this), or embedding=train")
        tensors = self._feature_tensors(supernet)
        dims = self.layer_dims(len(tensors))

        def project(index: int, vec: torch.Tensor) -> torch.Tensor:
            return self._projection(dims[index])(index, vec)

        feats = gradient_features(supernet, [arch], self._probe, self._loss_fn, tensors, project)
        return embed(feats)[0].double().numpy()

    def observe_gradients(self, step: int, arch: Arch, supernet) -> None:
        if self.embedding == "probe":
            embedding = self.embed_probe(supernet, arch)
        else:
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
        if emb.shape != (self.proj_dim,):
            raise ValueError(f"embedding must have {self.proj_dim} entries, got {emb.shape}")
        weight = self.observation_weight(arch)
        if self.center:
            self.mean_sum = self.decay * self.mean_sum + weight * emb
            self.mean_weight = self.decay * self.mean_weight + weight
            emb = emb - self.mean_sum / self.mean_weight
        self.prototypes.update(emb[None, :], weights=[weight])
        ready = self.prototypes.ready
        label = int(self.prototypes.assign(emb[None, :])[0]) if ready else -1
        self._insert(self.space.encoding(tuple(arch)).astype(np.int64), emb, label, weight)
        self.n_observed += 1
        if ready and self.reseed and not self.prototypes.live(self.dead_fraction).all():
            reseeded = self.prototypes.reseed_dead(self.dead_fraction,
                                                   self.res_emb.astype(np.float64),
                                                   self.res_weight * self.entry_weights())
            if reseeded:
                self._relabel()
                if self.probs is not None:  # the re-seeded prototypes' old P is meaningless
                    self.refresh()

    def _insert(self, enc: np.ndarray, emb: np.ndarray, label: int, weight: float) -> None:
        t = self.n_observed
        if len(self.res_enc) < self.reservoir_size:
            self.res_enc = np.vstack([self.res_enc, enc[None, :]])
            self.res_emb = np.vstack([self.res_emb, emb[None, :].astype(np.float32)])
            self.res_labels = np.append(self.res_labels, label)
            self.res_time = np.append(self.res_time, t)
            self.res_weight = np.append(self.res_weight, weight)
        else:
            if self.decay < 1:
                j = t % self.reservoir_size  # the oldest entry
            else:
                j = int(self.rng.integers(t + 1))  # Algorithm R
                if j >= self.reservoir_size:
                    self._votes = None
                    return
            self.res_enc[j], self.res_emb[j] = enc, emb.astype(np.float32)
            self.res_labels[j], self.res_time[j], self.res_weight[j] = label, t, weight
        self._votes = None

    def entry_weights(self) -> np.ndarray:
        """decay**age of each reservoir entry (age 0: the latest observation)."""
        age = (self.n_observed - 1 - self.res_time).astype(np.float64)
        return self.decay ** age

    # ------------------------------------------------------------------ densities

    def _relabel(self) -> None:
        if len(self.res_emb):
            self.res_labels = self.prototypes.assign(self.res_emb.astype(np.float64))
        self._votes = None

    def refresh(self) -> bool:
        """Recompute prototype densities, probabilities and shares; relabel the reservoir.
        False (nothing done) while the prototypes are not initialised."""
        if not self.prototypes.ready or len(self.res_enc) == 0:
            return False
        self._relabel()
        alpha = self.prototypes.densities(self.estimator, self.metric, bandwidth=self.bandwidth)
        logits = density_logits(alpha, self.tau, self.mapping, self.normalize,
                                weights=self.prototypes.counts)
        self._set_probs([float(p) for p in softmax(logits)])
        self._alpha = [float(a) for a in alpha]
        labels = self.vote(self.share_enc)
        self.shares = [float(s) for s in np.bincount(labels[labels >= 0], minlength=self.k)
                       / max(int((labels >= 0).sum()), 1)]
        return True

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

    def live_prototypes(self) -> int:
        return int(self.prototypes.live(self.dead_fraction).sum())

    # ------------------------------------------------------------------ drawing

    def vote(self, encodings: np.ndarray) -> np.ndarray:
        """Label of each encoding [m, len]: the decay**age-weighted majority of the labelled
        reservoir entries at minimal Hamming distance; ties go to the lower prototype index;
        -1 where no entry is labelled yet."""
        enc = np.asarray(encodings, dtype=np.int64)
        if enc.ndim == 1:
            enc = enc[None, :]
        if self._votes is None:
            labelled = self.res_labels >= 0
            onehot = np.zeros((int(labelled.sum()), self.k))
            onehot[np.arange(len(onehot)), self.res_labels[labelled]] = 1.0
            self._votes = (self.res_enc[labelled], self.entry_weights()[labelled][:, None] * onehot)
        res, weighted = self._votes
        if len(res) == 0:
            return np.full(len(enc), -1, dtype=np.int64)
        ham = (enc[:, None, :] != res[None, :, :]).sum(2)
        nearest = (ham == ham.min(1, keepdims=True)).astype(np.float64)
        return np.argmax(nearest @ weighted, axis=1).astype(np.int64)

    def nearest_label(self, arch: Arch) -> int:
        return int(self.vote(self.space.encoding(tuple(arch)))[0])

    def record(self, archs: list[Arch]) -> None:
        super().record(archs)
        if self.active:
            for arch in archs:
                key = self.space.key(arch)
                self.active_counts[key] = self.active_counts.get(key, 0) + 1

    def sample(self, step: int) -> Arch:
        if self.epochs_done >= self.warmup_epochs and (
                self.last_refresh < 0 or step - self.last_refresh >= self.refresh_every):
            if self.refresh():  # until the prototypes exist, try again at every draw
                self.last_refresh = step
        if not self.active:
            return self.space.sample(self.rng)
        arch = None
        for _ in range(self.max_tries):
            arch = self.space.sample(self.rng)
            self.proposals += 1
            label = self.nearest_label(arch)
            if label < 0:
                self.accepted += 1
                return arch
            accept = float(self.accept[label])
            self.expected_per_label[label] += accept
            if self.rng.random() < accept:
                self.accepted += 1
                self.accepted_per_label[label] += 1
                return arch
            self.rejected_per_label[label] += 1
        self.forced += 1
        return arch

    def distribution(self) -> dict | None:
        """Figures of the current draw distribution over the space's codes (module docstring);
        prototype i is a group of share_i * N codes."""
        if self.accept is None or self.shares is None:
            return None
        share = np.asarray(self.shares, dtype=np.float64)
        keep = share > 0
        s, a = share[keep], self.accept[keep]
        total = float((s * a).sum())
        miss = (1.0 - total) ** (self.max_tries - 1)
        n = float(self.space.size)
        per_code = (a * (1.0 - miss) / total + miss) / n
        out = distribution_summary(per_code, s * n)
        out["groups"] = "prototypes (share of the space from 256 fixed uniform codes)"
        return out

    def acceptance_rate(self) -> float | None:
        return self.accepted / self.proposals if self.proposals else None

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict:
        self.epochs_done = epoch + 1
        self.refresh()
        ready = self.prototypes.ready
        epochs = getattr(context, "epochs", None)
        snapshot = {
            "epoch": epoch,
            "epochs": epochs,
            "fraction_of_training": (epoch + 1) / epochs if epochs else None,
            "ready": ready,
            "active": self.active,
            "embedding": self.embedding,
            "probe_images": self.probe_images_used if self.embedding == "probe" else None,
            "n_observed": self.n_observed,
            "live_prototypes": self.live_prototypes(),
            "n_prototypes": self.k,
            "reseeded": self.prototypes.n_reseeded,
            "prototype_density": self._alpha if ready else None,
            "prototype_probability": self.probs,
            "prototype_accept": None if self.accept is None else [float(a) for a in self.accept],
            "prototype_share": self.shares,
            "prototype_counts": [float(c) for c in self.prototypes.counts] if ready else None,
            "prototype_spread": [float(s) for s in self.prototypes.spread] if ready else None,
            "reservoir_label_counts": (np.bincount(self.res_labels[self.res_labels >= 0],
                                                   minlength=self.k).tolist()
                                       if ready else None),
            "acceptance_rate": self.acceptance_rate(),
            "proposals": self.proposals,
            "distribution": self.distribution(),
            "n_distinct_sampled": len(self.counts),
            "options": dict(self.options),
        }
        return snapshot

    # ------------------------------------------------------------------ audit

    def audit(self) -> dict:
        """The base class's counts and marginal test, plus the rejection step's figures; the
        debiasing test asks whether acceptance depends on the prototype (2 x k contingency)."""
        out = super().audit()
        tested = self.accepted_per_label + self.rejected_per_label
        out.update({
            "design": "uniform proposals accepted with P[prototype] / max P after warm-up, "
                      "P = softmax(mapping(alpha) / tau) over prototypes",
            "embedding": self.embedding,
            "probe_images": self.probe_images_used if self.embedding == "probe" else None,
            "n_observed": self.n_observed,
            "proposals": self.proposals,
            "accepted": self.accepted,
            "forced": self.forced,
            "acceptance_rate": self.acceptance_rate(),
            "n_prototypes": self.k,
            "live_prototypes": self.live_prototypes(),
            "reseeded": self.prototypes.n_reseeded,
            "accepted_per_prototype": self.accepted_per_label.tolist(),
            "rejected_per_prototype": self.rejected_per_label.tolist(),
            "prototype_accept": None if self.accept is None else [float(a) for a in self.accept],
            "prototype_share": self.shares,
            "distribution": self.distribution(),
        })
        # Tilted or not rests on the realised draws, as for every sampler: the draws made while
        # the rejection step acted, against uniform. Whether acceptance depends on the
        # prototype is a test of the mechanism, kept under its own name.
        out["active_counts"] = dict(self.active_counts)
        out["tests"] = {
            "vs_uniform": uniform_count_test(self.space, self.active_counts),
            "acceptance_by_prototype": contingency_test(self.accepted_per_label,
                                                        self.rejected_per_label),
            "vs_design": acceptance_design_test(self.accepted_per_label, tested,
                                                self.expected_per_label),
            "all_draws_vs_uniform": out["tests"]["vs_uniform"],
        }
        out["tests_debiasing"], out["verdict"] = verdict(out["tests"]["vs_uniform"])
        return out

    # ------------------------------------------------------------------ state

    def state_nbytes(self) -> int:
        """Bytes of the density state (prototypes, mean, reservoir, per-prototype tallies, share
        codes), excluding the base class's sample counts."""
        arrays = (self.mean_sum, self.res_enc, self.res_emb, self.res_labels, self.res_time,
                  self.res_weight, self.accepted_per_label, self.rejected_per_label,
                  self.expected_per_label, self.share_enc)
        return self.prototypes.nbytes() + sum(a.nbytes for a in arrays)

    def state_dict(self) -> dict:
        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(a.copy())

        state = super().state_dict()
        state.update({
            "prototypes": self.prototypes.state_dict(),
            "res_enc": tensor(self.res_enc),
            "res_emb": tensor(self.res_emb),
            "res_labels": tensor(self.res_labels),
            "res_time": tensor(self.res_time),
            "res_weight": tensor(self.res_weight),
            "mean_sum": tensor(self.mean_sum),
            "mean_weight": float(self.mean_weight),
            "n_observed": self.n_observed,
            "epochs_done": self.epochs_done,
            "last_refresh": self.last_refresh,
            "probs": None if self.probs is None else list(self.probs),
            "alpha": self._alpha,
            "shares": self.shares,
            "proposals": self.proposals,
            "accepted": self.accepted,
            "forced": self.forced,
            "accepted_per_label": tensor(self.accepted_per_label),
            "rejected_per_label": tensor(self.rejected_per_label),
            "expected_per_label": tensor(self.expected_per_label),
            "active_counts": dict(self.active_counts),
        })
        return state

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.prototypes.load_state_dict(state["prototypes"])
        self.res_enc = state["res_enc"].numpy().copy()
        self.res_emb = state["res_emb"].numpy().copy()
        self.res_labels = state["res_labels"].numpy().copy()
        self.res_time = state["res_time"].numpy().copy()
        self.res_weight = state["res_weight"].numpy().copy()
        self.mean_sum = state["mean_sum"].numpy().copy()
        self.mean_weight = float(state["mean_weight"])
        self.n_observed = int(state["n_observed"])
        self.epochs_done = int(state["epochs_done"])
        self.last_refresh = int(state["last_refresh"])
        self._set_probs(state["probs"])
        self._alpha = None if state["alpha"] is None else [float(a) for a in state["alpha"]]
        self.shares = None if state["shares"] is None else [float(s) for s in state["shares"]]
        self.proposals, self.accepted = int(state["proposals"]), int(state["accepted"])
        self.forced = int(state["forced"])
        self.accepted_per_label = state["accepted_per_label"].numpy().copy()
        self.rejected_per_label = state["rejected_per_label"].numpy().copy()
        self.expected_per_label = state["expected_per_label"].numpy().copy()
        # checkpoints written before post-warm-up draws were counted have none
        self.active_counts = dict(state.get("active_counts", {}))
        self._votes = None
