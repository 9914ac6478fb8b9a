"""Scorers: how a search strategy asks "how good is this architecture?".

A scorer has two questions it can answer:

  * ``score(arch)``: the supernet accuracy (%) of the architecture, higher is better (the full
    evaluation set: what random and evolutionary search spend their budget on);
  * ``batch_score(arch, index)``: the accuracy (%) on ONE validation batch, cheaper and noisier;
    BSE uses it as its reward R(a). ``index`` says which batch (a scorer with B batches cycles,
    batch ``index % B``).

`CachedScorer` wraps plain callables, caches by the architecture's canonical key (equivalent
codes are one network, evaluated once, always through the canonical code) and counts distinct
evaluations (``n_evaluations``, ``n_batch_evaluations``). `SupernetScorer` evaluates a supernet
with `harness.evaluate.supernet_eval.evaluate_archs`; `TableScorer` looks scores up in a table
(e.g. the CSV that ``nas-harness evaluate`` writes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol, runtime_checkable

import pandas as pd

from harness.errors import HarnessError
from harness.spaces.base import Arch, SearchSpace


@runtime_checkable
class Scorer(Protocol):
    """What a search strategy needs: a full score and a one-batch score, both in %, higher better."""

    def score(self, arch: Arch) -> float: ...

    def batch_score(self, arch: Arch, index: int = 0) -> float: ...


class CachedScorer:
    """A scorer from callables, cached by canonical key, counting distinct evaluations.

    fn(arch) -> float: the full score; batch_fn(arch, index) -> float: the one-batch score (when
    None, the full score is the batch score: a noise-free reward). Both are called with the
    canonical code of the architecture. ``n_evaluations`` counts distinct `score` computations,
    ``n_batch_evaluations`` distinct (architecture, index) `batch_score` computations.
    """

    def __init__(self, space: SearchSpace, fn: Callable[[Arch], float],
                 batch_fn: Callable[[Arch, int], float] | None = None):
        self.space = space
        self.fn = fn
        self.batch_fn = batch_fn
        self.cache: dict[str, float] = {}
        self.batch_cache: dict[tuple[str, int], float] = {}
        self.n_evaluations = 0
        self.n_batch_evaluations = 0

    def _canonical(self, arch: Arch) -> tuple[Arch, str]:
        rep = self.space.canonical(tuple(int(a) for a in arch))
        return rep, self.space.key(rep)

    def score(self, arch: Arch) -> float:
        rep, key = self._canonical(arch)
        if key not in self.cache:
            self.cache[key] = float(self.fn(rep))
            self.n_evaluations += 1
        return self.cache[key]

    def batch_score(self, arch: Arch, index: int = 0) -> float:
        rep, key = self._canonical(arch)
        slot = (key, int(index))
        if slot not in self.batch_cache:
            value = self.fn(rep) if self.batch_fn is None else self.batch_fn(rep, int(index))
            self.batch_cache[slot] = float(value)
            self.n_batch_evaluations += 1
        return self.batch_cache[slot]

    def reset_counts(self) -> None:
        """Forget the cache and zero the counters (e.g. between searches sharing one scorer)."""
        self.cache.clear()
        self.batch_cache.clear()
        self.n_evaluations = 0
        self.n_batch_evaluations = 0


class SupernetScorer(CachedScorer):
    """Supernet accuracy (%) of an architecture's path, via `evaluate_archs`.

    score(arch): accuracy over all of ``batches`` (a fixed list of (x, y));
    batch_score(arch, i): accuracy on ``batches[i % len(batches)]`` alone.
    bn_eval: "batch" | "running" | "recalibrate" (then ``recal_batches`` are the training
    batches used to refresh BatchNorm statistics per architecture).
    known: full scores already computed on exactly these batches and BN mode (canonical key ->
    accuracy %, e.g. the run's evaluation cache from `evaluate_run`). `score` answers from it
    instead of evaluating again; the strategy's budget counts the network all the same.
    ``n_reused`` counts such answers (included in ``n_evaluations``).
    """

    def __init__(self, model, space: SearchSpace, batches: list, bn_eval: str = "batch",
                 device="cpu", recal_batches: list | None = None,
                 known: Mapping[str, float] | None = None):
        self.batches = list(batches)
        if not self.batches:
            raise HarnessError("SupernetScorer needs at least one evaluation batch")
        self.model = model
        self.bn_eval = bn_eval
        self.device = device
        self.recal_batches = recal_batches
        self.known = {str(k): float(v) for k, v in (known or {}).items()}
        self.n_reused = 0
        super().__init__(space, self._evaluate_all, self._evaluate_one)

    def score(self, arch: Arch) -> float:
        rep, key = self._canonical(arch)
        if key not in self.cache and key in self.known:
            self.cache[key] = self.known[key]
            self.n_evaluations += 1
            self.n_reused += 1
        return super().score(rep)

    def reset_counts(self) -> None:
        super().reset_counts()
        self.n_reused = 0

    def _accuracy(self, arch: Arch, batches: list) -> float:
        from harness.evaluate.supernet_eval import evaluate_archs

        rows = evaluate_archs(self.model, [arch], batches, self.bn_eval, self.recal_batches,
                              self.device)
        return float(rows[0]["supernet_accuracy"])

    def _evaluate_all(self, arch: Arch) -> float:
        return self._accuracy(arch, self.batches)

    def _evaluate_one(self, arch: Arch, index: int) -> float:
        return self._accuracy(arch, [self.batches[index]])

    def batch_score(self, arch: Arch, index: int = 0) -> float:
        # Batches cycle, so the cache slot is the batch actually used.
        return super().batch_score(arch, int(index) % len(self.batches))


class TableScorer(CachedScorer):
    """Scores looked up by canonical key in a table of precomputed supernet accuracies.

    table: a mapping key -> score, or a frame with a 'key' column and ``column``. Keys in any form
    the space parses; equivalent codes are averaged. batch_score is the full score (no per-batch
    numbers in a table). An architecture missing from the table is a HarnessError.
    """

    def __init__(self, space: SearchSpace, table: Mapping[str, float] | pd.DataFrame,
                 column: str = "supernet_accuracy"):
        if isinstance(table, pd.DataFrame):
            if "key" not in table.columns or column not in table.columns:
                raise HarnessError(f"score table needs columns 'key' and '{column}'")
            series = pd.Series(table[column].to_numpy(dtype=float),
                               index=table["key"].astype(str))
        else:
            series = pd.Series({str(k): float(v) for k, v in table.items()}, dtype=float)
        canon = series.index.map(space.canonical_key)
        self.table: dict[str, float] = series.groupby(canon).mean().to_dict()
        super().__init__(space, self._lookup)

    def _lookup(self, arch: Arch) -> float:
        key = self.space.key(arch)
        if key not in self.table:
            raise HarnessError(f"architecture {key} is not in the score table")
        return self.table[key]
