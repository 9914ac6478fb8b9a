"""Density-aware ("debiased") sampling for enumerable spaces (Debiased One-Shot NAS).

Before `warmup_epochs` are over the sampler draws uniformly over codes (exactly as "uniform").
At the end of epoch e (0-based), when e + 1 >= warmup_epochs and
(e + 1 - warmup_epochs) % recompute_every == 0, it recomputes densities on the fixed probe batch
(the run's `probe_size` supernet-validation images, 512 by default: the paper's batch) and from
then on draws from

    P(a) = softmax(-alpha_a / tau)                                   (eq. 8, the default)

where alpha_a = 1 / mean cosine distance of network a's gradients to every other network's
(eq. 5-6; or a Gaussian KDE, eq. 3). Distances are per weight tensor, then averaged over the
selected tensors (each tensor its own layer, as the authors measured). Every other reading
(normalize="mean", other mappings, estimators, feature sets) is a named option; the options and
their defaults are declared once in `DebiasedOptions` (`nas-harness ls samplers`).

Which tensors: pooling uses the stem and blocks 1-3 (every architecture uses every weight). In
the spaces with candidate ops the default is the tensors every network shares (stem, fixed
blocks, head), so the density measures gradient direction rather than which ops were picked;
feature_set=groups3 is the per-candidate reading, where two networks with different ops at a
position have gradients on disjoint coordinates and the density is close to a Hamming count.

Equivalence classes (distinct_only, default on): features are computed once per distinct
network, on its canonical code's path; every code of the class takes that density, and the
estimator weights each class by its number of codes. draw="codes" gives every code probability
proportional to exp(logit of its class) (tends to the uniform sampler as tau -> infinity).

max_archs (CPU budgets only): compute features for a seeded subset and give every other network
the density of its nearest computed network by Hamming distance.

Audit. Each snapshot records the distribution in force (max/min P, effective number of
architectures 1/sum P^2 as a fraction of N, KL(P || U) in nats) and the per-tensor mean distance
of the computation; `audit()` tests the draws made after warm-up against uniform sampling and
against the design (the sum over steps of the P in force), per network where every network
expects at least 5 draws, else over bins of the designed probability.

Snapshots (snapshots/epoch_XXXX.json): epoch, epochs, fraction_of_training, active, computed,
keys (the computed networks, canonical keys), density, probability (per code of each listed
network), class_size, class_probability, distribution, feature_tensors, feature_mean_distance,
per_layer_mean_distance_probe / _train {tensor: float} (Figure 2, on `figure_archs` networks
over `figure_set` tensors), figure_keys, sample_counts, recompute_seconds.

Fixed subsets (max_archs, figure_archs) come from a generator seeded by (seed, a constant) at
construction; every per-step draw comes from self.rng only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.density.distances import (
    cka_distance_matrix,
    feature_maps,
    hamming_distance_matrix,
    layer_averaged_cosine_with_means,
    per_layer_mean_distance,
)
from harness.density.estimators import estimate_density
from harness.density.features import (
    FEATURE_SETS,
    CountSketch,
    gradient_features,
    select_feature_tensors,
)
from harness.density.mapping import class_code_probabilities
from harness.errors import HarnessError
from harness.samplers.audit import (
    chisquare_test,
    distribution_summary,
    variance_explained_by_pattern,
    verdict,
)
from harness.samplers.base import EpochContext, Sampler, register_sampler
from harness.samplers.density_options import DensityOptions
from harness.samplers.options import option
from harness.spaces.base import Arch, SearchSpace

SMALL_SPACE = 100  # networks; below this, track density in warm-up (Table 6) by default
# Densities converge within about 50 of 300 epochs (Table 6: Spearman with the final density
# 0.95 after 50 epochs, 0.96 after 100), so recomputing about 25 times after warm-up tracks them;
# on pooling's published schedule that is every 10 epochs (`nas-harness bench` overhead
# section gives the cost).
RECOMPUTES_AFTER_WARMUP = 25


def auto_recompute_every(epochs: int, warmup_epochs: int) -> int:
    """Epochs between recomputes when recompute_every is null: about RECOMPUTES_AFTER_WARMUP
    recomputes over the epochs after warm-up, at least one epoch apart."""
    return max(1, (int(epochs) - int(warmup_epochs)) // RECOMPUTES_AFTER_WARMUP)


@dataclass(frozen=True)
class DebiasedOptions(DensityOptions):
    recompute_every: int | None = option(None, "epochs between density recomputes; null = about "
                                         "25 recomputes after warm-up (pooling at 300 epochs: "
                                         "every 10)", minimum=1)
    distance: str = option("cosine", "gradient cosine (the method), Hamming distance of the "
                           "encodings or 1 - linear CKA of feature maps (ablations)",
                           choices=("cosine", "hamming", "cka"))
    distinct_only: bool = option(True, "one density per equivalence class of codes")
    draw: str = option("codes", "codes: P per code (uniform limit = uniform sampler); classes: "
                       "softmax over networks, then a code uniformly", choices=("codes", "classes"))
    max_archs: int | None = option(None, "compute features for at most this many networks "
                                   "(nearest-neighbour fill; a CPU budget, off in the paper "
                                   "profile)", minimum=2)
    proj_dim: int | None = option(None, "count-sketch tensors with more elements to this many "
                                  "dimensions (memory); null keeps exact gradients", minimum=1)
    figure_archs: int = option(0, "networks whose per-tensor distances are recorded every epoch "
                               "(Figure 2, e.g. 64; it costs a forward and backward per network "
                               "and batch); 0 = off", minimum=0)
    figure_set: str = option("all", "tensors recorded for Figure 2", choices=FEATURE_SETS)
    track_density_during_warmup: bool | None = option(False, "also compute (without using) "
                                                      "densities in warm-up, for Table 6; null = "
                                                      "on for <= 100 networks")
    cka_layer: str | None = option(None, "module whose feature maps distance=cka compares "
                                   "(null = the last selected tensor's module)")
    track_epochs: list[int] | None = option(None, "epochs completed (0 = before training) at "
                                            "which warm-up densities are tracked; null = every "
                                            "epoch")
    probe_batches: int = option(1, "batches of probe_size supernet-validation images whose "
                                "gradients are accumulated for the density (k >= 2 also "
                                "records alpha's split-half reliability: the two halves of "
                                "the batches, Spearman-Brown corrected)", minimum=1,
                                recorded_when_set=True)
    figure_epochs: list[int] | None = option(None, "epochs completed at which Figure 2's "
                                             "distances are recorded; null = every epoch (a "
                                             "gradient per figure network and batch each time)",
                                             recorded_when_set=True)


def add_features(a: dict, b: dict) -> dict:
    """Gradient features of two batches summed: the features of their accumulated gradient."""
    return {k: a[k] + b[k] for k in a}


def rank_agreement(a, b) -> float:
    """Spearman correlation of two density vectors (NaN when one is constant)."""
    import scipy.stats

    return float(scipy.stats.spearmanr(a, b).statistic)


def _mean_or_none(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.mean(known)) if known else None


@register_sampler("debiased", "density-aware sampling (Debiased One-Shot NAS), enumerable spaces")
class DebiasedSampler(Sampler):
    Options = DebiasedOptions
    uses_probe = True
    audit_in_tables = True

    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0, **options: Any):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        o: DebiasedOptions = self.opts
        if not space.enumerable:
            raise HarnessError(f"sampler 'debiased' needs an enumerable space; '{space.name}' has "
                               f"{space.size} architectures: use --sampler debiased-online")
        self.projection = CountSketch(seed, o.proj_dim) if o.proj_dim else None

        # Equivalence classes: self.classes[i] is the canonical code, self.members[i] its codes.
        groups: dict[Arch, list[Arch]] = {}
        for arch in space.enumerate():
            rep = space.canonical(arch) if o.distinct_only else arch
            groups.setdefault(rep, []).append(arch)
        self.classes: list[Arch] = list(groups)
        self.members: list[list[Arch]] = [groups[c] for c in self.classes]
        self.sizes = np.array([len(m) for m in self.members], dtype=np.float64)
        self._index = {c: i for i, c in enumerate(self.classes)}
        n = len(self.classes)

        fixed = np.random.default_rng([seed, 0xDEB1A5])
        if o.max_archs is not None and n > o.max_archs:
            self.computed = np.sort(fixed.choice(n, o.max_archs, replace=False))
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
        n_figure = min(o.figure_archs, n)
        self.figure = np.sort(fixed.choice(n, n_figure, replace=False)) if n_figure > 1 else None

        n_computed = len(self.computed)
        self.recompute_every = o.recompute_every  # None: set from the run length (on_epoch_end)
        self.track_warmup = (n_computed <= SMALL_SPACE if o.track_density_during_warmup is None
                             else o.track_density_during_warmup)

        self.class_probs: np.ndarray | None = None  # per class, once active
        self._cum: np.ndarray | None = None
        # Audit: draws per class after warm-up, and their expectation under the design.
        self.active_counts = np.zeros(n, dtype=np.int64)
        self.expected_counts = np.zeros(n, dtype=np.float64)
        self.draws_since_set = 0
        # Split-half reliability of alpha at each recompute that set P (probe_batches >= 2).
        self.reliabilities: list[float | None] = []
        self.last_reliability: dict | None = None

    # ------------------------------------------------------------------ tensors

    @property
    def probe_batches_wanted(self) -> int:
        return self.opts.probe_batches

    def feature_tensors(self, supernet) -> list:
        return select_feature_tensors(supernet, self.opts.layers, self.opts.feature_set)

    def attach(self, supernet, probe_batch=None, loss_fn=None) -> None:
        """Resolve the tensor selection against the run's supernet (errors before training)."""
        self.feature_tensors(supernet)
        select_feature_tensors(supernet, None, self.opts.figure_set)

    def _tracked(self, done: int) -> bool:
        return self.opts.track_epochs is None or done in self.opts.track_epochs

    def recompute_every_for(self, epochs: int) -> int:
        """The recompute period of a run of `epochs` epochs (the option, or the automatic one)."""
        return self.recompute_every or auto_recompute_every(epochs, self.warmup_epochs)

    # ------------------------------------------------------------------ drawing

    @property
    def active(self) -> bool:
        return self._cum is not None

    def sample(self, step: int) -> Arch:
        if self._cum is None:
            return self.space.sample(self.rng)
        index = min(int(np.searchsorted(self._cum, self.rng.random(), side="right")),
                    len(self.members) - 1)
        self.active_counts[index] += 1
        self.draws_since_set += 1
        members = self.members[index]
        if len(members) == 1:
            return members[0]
        return members[int(self.rng.integers(len(members)))]

    def _flush_expected(self) -> None:
        if self.class_probs is not None and self.draws_since_set:
            self.expected_counts += self.draws_since_set * self.class_probs
        self.draws_since_set = 0

    def _set_probs(self, class_probs) -> None:
        self._flush_expected()
        if class_probs is None:
            self.class_probs, self._cum = None, None
        else:
            self.class_probs = np.asarray(class_probs, dtype=np.float64)
            cum = np.cumsum(self.class_probs)
            self._cum = cum / cum[-1]

    def code_probability(self, arch: Arch) -> float:
        """Probability of drawing this exact code at a step (uniform before activation)."""
        if self.class_probs is None:
            return 1.0 / float(self.sizes.sum())
        rep = self.space.canonical(arch) if self.opts.distinct_only else tuple(arch)
        i = self._index[rep]
        return float(self.class_probs[i] / self.sizes[i])

    # ------------------------------------------------------------------ densities

    def compute_density(self, context: EpochContext) -> tuple[np.ndarray, dict[str, float]]:
        """(density of each computed network in self.computed order, per-tensor mean distance)."""
        archs = [self.classes[i] for i in self.computed]
        supernet = context.supernet
        means: dict[str, float] = {}
        self.last_reliability = None
        if self.opts.distance == "cosine" and self.opts.probe_batches > 1:
            return self._accumulated_density(context)
        if self.opts.distance == "cosine":
            tensors = self.feature_tensors(supernet)
            # Divided over the ranks of a data-parallel run, gathered in order.
            feats = context.map_archs(
                lambda part: gradient_features(supernet, part, context.probe_batch,
                                               context.loss_fn, tensors, self.projection), archs)
            dist, means = layer_averaged_cosine_with_means(feats)
            del feats
        elif self.opts.distance == "hamming":
            dist = hamming_distance_matrix(self.space, archs)
        else:
            layer = self.opts.cka_layer or self.feature_tensors(supernet)[-1][0].rsplit(".", 1)[0]
            dist = cka_distance_matrix(feature_maps(supernet, archs, context.probe_batch, layer))
        weights = self.sizes[self.computed]
        alpha = estimate_density(dist, self.opts.estimator, weights=weights,
                                 bandwidth=self.opts.bandwidth)
        return alpha, means

    def batch_features(self, context: EpochContext, batch: tuple) -> dict:
        """Gradient features of the computed networks on one batch ({tensor: [n, d]})."""
        archs = [self.classes[i] for i in self.computed]
        tensors = self.feature_tensors(context.supernet)
        return context.map_archs(lambda part: gradient_features(
            context.supernet, part, batch, context.loss_fn, tensors, self.projection), archs)

    def density_of(self, features: dict) -> tuple[np.ndarray, dict[str, float]]:
        """(alpha of each computed network, per-tensor mean distance) from gradient features."""
        dist, means = layer_averaged_cosine_with_means(features)
        return estimate_density(dist, self.opts.estimator, weights=self.sizes[self.computed],
                                bandwidth=self.opts.bandwidth), means

    def _accumulated_density(self, context: EpochContext
                             ) -> tuple[np.ndarray, dict[str, float]]:
        """Density from gradients accumulated over the k probe batches, and the split-half
        reliability of alpha (the densities of the first and second half of the batches,
        Spearman, corrected to the whole probe by Spearman-Brown) in `last_reliability`."""
        from harness.benchmarks.reliability import spearman_brown

        batches = context.probe_batches
        if len(batches) < self.opts.probe_batches:
            raise HarnessError(f"the run holds {len(batches)} probe batches, the sampler's "
                               f"probe_batches is {self.opts.probe_batches}")
        half = self.opts.probe_batches // 2
        sums: list[dict | None] = [None, None, None]  # first half, second half, an odd last one
        for j, batch in enumerate(batches[:self.opts.probe_batches]):
            feats = self.batch_features(context, batch)
            group = 0 if j < half else (1 if j < 2 * half else 2)
            sums[group] = feats if sums[group] is None else add_features(sums[group], feats)
        full = sums[0]
        for part in sums[1:]:
            full = full if part is None else add_features(full, part)
        alpha, means = self.density_of(full)
        r = rank_agreement(self.density_of(sums[0])[0], self.density_of(sums[1])[0])
        self.last_reliability = {"split_half_spearman": r,
                                 "reliability": spearman_brown(r, 2.0) if r == r else None,
                                 "probe_images": int(sum(len(b[1]) for b in batches[
                                     :self.opts.probe_batches]))}
        return alpha, means

    def probabilities_from_density(self, alpha_computed: np.ndarray
                                   ) -> tuple[np.ndarray, np.ndarray]:
        """(class probabilities, per-code probabilities) over all classes: the draw path."""
        alpha = np.asarray(alpha_computed, dtype=np.float64)[self.nearest]
        o = self.opts
        return class_code_probabilities(alpha, self.sizes, o.tau, o.mapping, o.normalize, o.draw)

    def distribution(self) -> dict:
        """Figures of the per-code distribution in force (uniform before activation)."""
        if self.class_probs is None:
            return distribution_summary(np.full(len(self.sizes), 1.0 / self.sizes.sum()),
                                        self.sizes)
        return distribution_summary(self.class_probs / self.sizes, self.sizes)

    def _figures(self, context: EpochContext) -> tuple[dict, dict, list[str]]:
        if self.figure is None:
            return {}, {}, []
        archs = [self.classes[i] for i in self.figure]
        tensors = select_feature_tensors(context.supernet, None, self.opts.figure_set)
        probe = context.map_archs(lambda part: gradient_features(
            context.supernet, part, context.probe_batch, context.loss_fn, tensors,
            self.projection), archs)
        train = context.map_archs(lambda part: gradient_features(
            context.supernet, part, context.train_batch, context.loss_fn, tensors,
            self.projection), archs)
        return (per_layer_mean_distance(probe), per_layer_mean_distance(train),
                [self.space.key(a) for a in archs])

    def on_train_start(self, context: EpochContext) -> dict | None:
        """With density tracking on, the density of the untrained supernet (Table 6's epoch-0
        row), as a snapshot of epoch -1; it never changes the draws."""
        if not self.track_warmup or self.warmup_epochs == 0 or not self._tracked(0):
            return None
        alpha, means = self.compute_density(context)
        return {"epoch": -1, "epochs": context.epochs, "fraction_of_training": 0.0,
                "computed": True, "active": False,
                "keys": [self.space.key(self.classes[i]) for i in self.computed],
                "class_size": [int(s) for s in self.sizes[self.computed]],
                "density": [float(a) for a in alpha], "feature_mean_distance": means or None,
                "sample_counts": {}}

    def on_epoch_end(self, epoch: int, context: EpochContext) -> dict:
        started = time.perf_counter()
        done = epoch + 1
        every = self.recompute_every_for(context.epochs)
        after_warmup = done >= self.warmup_epochs
        # No draw follows the last epoch: recompute there only when densities are tracked.
        recompute = (after_warmup and (done - self.warmup_epochs) % every == 0
                     and (done < context.epochs or self.track_warmup))
        track = (not after_warmup) and self.track_warmup and self._tracked(done)
        figures = self.opts.figure_epochs is None or done in self.opts.figure_epochs
        probe_fig, train_fig, figure_keys = self._figures(context) if figures else ({}, {}, [])
        snapshot: dict[str, Any] = {
            "epoch": epoch, "epochs": context.epochs, "recompute_every": every,
            "fraction_of_training": done / max(context.epochs, 1),
            "computed": bool(recompute or track), "active": False,
            "keys": [self.space.key(self.classes[i]) for i in self.computed],
            "class_size": [int(s) for s in self.sizes[self.computed]],
            "density": None, "probability": None, "class_probability": None,
            "feature_tensors": ([] if self.opts.distance == "hamming" else
                                [name for name, _ in self.feature_tensors(context.supernet)]),
            "feature_mean_distance": None, "computed_distribution": None,
            "alpha_r2_first3_ops": None,
        }
        density_seconds = None
        if recompute or track:
            t0 = time.perf_counter()
            alpha, means = self.compute_density(context)
            class_p, code_p = self.probabilities_from_density(alpha)
            density_seconds = time.perf_counter() - t0
            snapshot["density"] = [float(a) for a in alpha]
            snapshot["probability"] = [float(p) for p in code_p[self.computed]]
            snapshot["class_probability"] = [float(p) for p in class_p[self.computed]]
            snapshot["feature_mean_distance"] = means or None
            snapshot["computed_distribution"] = distribution_summary(code_p, self.sizes)
            # How much of alpha the ops of the first three positions explain (near 1: the
            # density counts op choices rather than measuring gradient direction).
            snapshot["alpha_r2_first3_ops"] = variance_explained_by_pattern(
                alpha, [self.classes[i][:3] for i in self.computed], self.sizes[self.computed])
            snapshot["alpha_reliability"] = self.last_reliability
            if recompute:
                self._set_probs(class_p)
                if self.last_reliability is not None:
                    self.reliabilities.append(self.last_reliability["reliability"])
        snapshot.update({
            "active": self.active,
            "distribution": self.distribution(),
            "per_layer_mean_distance_probe": probe_fig,
            "per_layer_mean_distance_train": train_fig,
            "figure_keys": figure_keys,
            "sample_counts": dict(self.counts),
            "recompute_seconds": density_seconds,
            "seconds": time.perf_counter() - started,
            "options": dict(self.options),
        })
        return snapshot

    # ------------------------------------------------------------------ audit

    def audit(self) -> dict:
        """Draws after warm-up against uniform sampling and against the design."""
        out = super().audit()
        self._flush_expected()
        n_active = int(self.active_counts.sum())
        uniform = self.sizes / self.sizes.sum()
        designed = (self.expected_counts / n_active) if n_active else uniform
        out.update({
            "design": "softmax(-alpha / tau) after warm-up (see options)",
            "warmup_draws": out["n_draws"] - n_active,
            "active_draws": n_active,
            "distribution": self.distribution() if self.class_probs is not None else None,
            # The distribution the active draws were made from: the draw-weighted mean of the P
            # in force at each step, per code.
            "time_averaged_distribution": (distribution_summary(designed / self.sizes, self.sizes)
                                           if n_active else None),
            "n_networks": int(len(self.sizes)),
            # The density's own noise: alpha's split-half reliability at each recompute that set
            # P (probe_batches >= 2; null when the probe was one batch).
            "alpha_reliability": _mean_or_none(self.reliabilities),
            "alpha_reliability_per_recompute": list(self.reliabilities),
        })
        order = designed / self.sizes  # per-code designed probability: bins follow the tilt
        out["tests"] = {
            "vs_uniform": chisquare_test(self.active_counts, uniform * max(n_active, 1), order,
                                         "designed probability"),
            "vs_design": chisquare_test(self.active_counts, designed * max(n_active, 1), order,
                                        "designed probability"),
            "all_draws_vs_uniform": out["tests"]["vs_uniform"],
        }
        out["tests_debiasing"], out["verdict"] = verdict(out["tests"]["vs_uniform"])
        return out

    # ------------------------------------------------------------------ state

    def state_dict(self) -> dict:
        state = super().state_dict()
        state["class_probs"] = None if self.class_probs is None else self.class_probs.tolist()
        state["active_counts"] = self.active_counts.tolist()
        state["expected_counts"] = self.expected_counts.tolist()
        state["draws_since_set"] = self.draws_since_set
        state["reliabilities"] = list(self.reliabilities)
        return state

    @classmethod
    def forks_from_uniform(cls, opts: DebiasedOptions) -> bool:
        # Its warm-up draws exactly like uniform's; with no warm-up tracking and no Figure-2
        # recording it also records nothing then, so a fork equals training from scratch
        # (tests/test_rundir.py). Tracking runs (Table 6, Figure 2) train from scratch.
        return opts.track_density_during_warmup is False and not opts.figure_archs

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        probs = state.get("class_probs")
        if probs is not None and len(probs) != len(self.classes):
            raise HarnessError(f"debiased sampler state has {len(probs)} class probabilities; "
                               f"this space/options give {len(self.classes)} classes")
        self.class_probs, self._cum = None, None
        self.draws_since_set = 0
        if probs is not None:
            self._set_probs(probs)
        n = len(self.classes)
        self.active_counts = np.asarray(state.get("active_counts", [0] * n), dtype=np.int64)
        self.expected_counts = np.asarray(state.get("expected_counts", [0.0] * n), dtype=np.float64)
        self.draws_since_set = int(state.get("draws_since_set", 0))
        self.reliabilities = list(state.get("reliabilities", []))
