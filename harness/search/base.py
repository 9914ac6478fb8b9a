"""The search-strategy registry, the result type, and `run_search`.

A strategy is a function registered with `register_search(name)`:

    strategy(space, scorer, rng: np.random.Generator, budget: int, **options) -> SearchResult

It draws only from ``rng`` (so the same seed gives the same result) and calls ``scorer.score`` on
at most ``budget`` distinct networks (canonical keys); BSE spends its budget on
``scorer.batch_score`` instead (see its docstring). Options are keyword-only parameters with
defaults; the result records every option's value.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from harness.errors import HarnessError, did_you_mean
from harness.registry import Registry
from harness.search.scorers import Scorer
from harness.spaces.base import Arch, SearchSpace

SEED_TAG = 0x5EA4C  # the search's generator is default_rng([seed, SEED_TAG])


@dataclass
class SearchResult:
    """What a search found.

    picked: canonical keys, best first (top ``top_n``); scores: their full `score` (supernet
    accuracy, %); n_evaluations: distinct `score` evaluations spent; n_batch_evaluations: one-batch
    evaluations spent (BSE); history: (evaluation index, best value so far) after each evaluation
    (BSE: batch-evaluation index and best running reward); options: every option's value;
    extra: strategy-specific details.
    """

    name: str
    picked: list[str]
    scores: list[float]
    n_evaluations: int
    history: list[tuple[int, float]]
    options: dict[str, Any]
    n_batch_evaluations: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def best(self) -> str | None:
        return self.picked[0] if self.picked else None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["history"] = [[int(i), float(v)] for i, v in self.history]
        return out


Strategy = Callable[..., SearchResult]
SEARCHES: Registry[Strategy] = Registry("search strategy", providers="harness.search")


def register_search(name: str) -> Callable[[Strategy], Strategy]:
    """Function decorator: register a search strategy under `name`."""

    def decorator(fn: Strategy) -> Strategy:
        fn.search_name = name  # type: ignore[attr-defined]
        return SEARCHES.register(name)(fn)

    return decorator


def strategy_options(name: str) -> dict[str, Any]:
    """The options a strategy accepts and their defaults."""
    fn = SEARCHES.get(name)
    return {p.name: p.default for p in inspect.signature(fn).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


# ---------------------------------------------------------------- helpers for strategies


def check_budget(budget: int) -> int:
    if int(budget) != budget or budget < 1:
        raise HarnessError(f"search budget must be a positive integer, got {budget!r}")
    return int(budget)


def draw_distinct(space: SearchSpace, rng: np.random.Generator, n: int,
                  exclude: Iterable[str] = ()) -> list[Arch]:
    """Up to `n` distinct canonical architectures whose keys are not in `exclude`, seeded.

    Draws codes with `space.sample` (uniform over codes, as the space's sampler) and keeps the
    first occurrence of each network. In an enumerable space a request for every remaining network
    returns them all in a seeded order, and rejection sampling that stalls (rare classes) is
    finished from the remaining networks.
    """
    excluded = set(exclude)
    out: dict[str, Arch] = {}
    if n <= 0:
        return []
    if space.enumerable and n >= (space.n_distinct or 0) - len(excluded):
        remaining = _remaining(space, excluded)
        if n >= len(remaining):
            return [remaining[i] for i in rng.permutation(len(remaining))]
    max_draws = 20 * n + 1000
    draws = 0
    while len(out) < n and draws < max_draws:
        arch = space.canonical(space.sample(rng))
        key = space.key(arch)
        draws += 1
        if key not in excluded and key not in out:
            out[key] = arch
    if len(out) < n and space.enumerable:
        rest = _remaining(space, excluded | set(out))
        for i in rng.permutation(len(rest))[: n - len(out)]:
            out[space.key(rest[i])] = rest[i]
    return list(out.values())


def _remaining(space: SearchSpace, excluded: set[str]) -> list[Arch]:
    return [a for a in space.distinct() if space.key(a) not in excluded]


class Tracker:
    """Scores distinct networks within a budget; keeps the order, the best and the history."""

    def __init__(self, space: SearchSpace, scorer: Scorer, budget: int):
        self.space = space
        self.scorer = scorer
        self.budget = budget
        self.scores: dict[str, float] = {}  # canonical key -> score, in evaluation order
        self.archs: dict[str, Arch] = {}
        self.history: list[tuple[int, float]] = []
        self._best = -np.inf

    @property
    def n_evaluations(self) -> int:
        return len(self.scores)

    @property
    def exhausted(self) -> bool:
        return self.n_evaluations >= self.budget

    def seen(self, key: str) -> bool:
        return key in self.scores

    def evaluate(self, arch: Arch) -> float | None:
        """The score of `arch` (canonicalised); None when it is new and the budget is spent."""
        rep = self.space.canonical(tuple(int(a) for a in arch))
        key = self.space.key(rep)
        if key in self.scores:
            return self.scores[key]
        if self.exhausted:
            return None
        value = float(self.scorer.score(rep))
        self.scores[key] = value
        self.archs[key] = rep
        self._best = max(self._best, value)
        self.history.append((self.n_evaluations, self._best))
        return value

    def ranked(self) -> list[str]:
        """Evaluated keys, best score first; ties keep evaluation order."""
        order = {k: i for i, k in enumerate(self.scores)}
        return sorted(self.scores, key=lambda k: (-self.scores[k], order[k]))

    def top_archs(self, k: int) -> list[Arch]:
        return [self.archs[key] for key in self.ranked()[:k]]

    def result(self, name: str, options: dict[str, Any], top_n: int, **kwargs) -> SearchResult:
        picked = self.ranked()[:top_n]
        return SearchResult(name=name, picked=picked, scores=[self.scores[k] for k in picked],
                            n_evaluations=self.n_evaluations, history=list(self.history),
                            options=options, **kwargs)


# ---------------------------------------------------------------- running a search


def _check_options(name: str, fn: Strategy, options: dict[str, Any]) -> None:
    params = inspect.signature(fn).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return  # the strategy takes any option
    known = strategy_options(name)
    for option in options:
        if option not in known:
            raise HarnessError(
                f"unknown option '{option}' for search '{name}'{did_you_mean(option, known)}; "
                f"known: {', '.join(sorted(known))}"
            )


def truth_by_network(space: SearchSpace, truth) -> pd.Series:
    """Ground-truth accuracy per canonical key: equivalent codes averaged, NaNs dropped."""
    frame = truth.frame
    canon = frame["key"].astype(str).map(space.canonical_key)
    return frame["accuracy"].astype(float).groupby(canon.to_numpy()).mean().dropna()


def attach_truth(space: SearchSpace, out: dict[str, Any], truth) -> dict[str, Any]:
    """Add the ground truth of the picked architectures to a run_search dict (in place)."""
    if truth.space != space.name:
        raise HarnessError(f"ground truth '{truth.name}' is for space '{truth.space}', "
                           f"not '{space.name}'")
    acc = truth_by_network(space, truth)
    values = acc.to_numpy()
    accuracies: list[float | None] = []
    ranks: list[int | None] = []
    for key in out["picked"]:
        canon = space.canonical_key(key)
        if canon in acc.index:
            a = float(acc[canon])
            accuracies.append(a)
            ranks.append(int(np.sum(values > a)) + 1)
        else:
            accuracies.append(None)
            ranks.append(None)
    best = float(values.max()) if len(values) else None
    out.update({
        "truth_benchmark": truth.name,
        "truth_best_accuracy": best,
        "truth_n_distinct": int(len(values)),
        "picked_truth_accuracy": accuracies,
        "picked_truth_rank": ranks,
        "truth_accuracy": accuracies[0] if accuracies else None,
        "truth_rank": ranks[0] if ranks else None,
        "truth_regret": (best - accuracies[0]) if accuracies and accuracies[0] is not None
        and best is not None else None,
    })
    return out


def run_search(name: str, space: SearchSpace | str, scorer: Scorer, seed: int, budget: int,
               truth=None, **options) -> dict[str, Any]:
    """Run the strategy registered as `name` with generator default_rng([seed, SEED_TAG]).

    Returns the SearchResult as a dict plus search/space/seed/budget. With `truth` (a
    GroundTruth of the same space) it adds, matched by canonical key (equivalent codes in the
    truth table averaged): picked_truth_accuracy and picked_truth_rank (1 = best among the
    distinct networks of the table; None for an architecture not in the table), truth_accuracy /
    truth_rank / truth_regret of the best pick, truth_best_accuracy and truth_n_distinct.
    """
    from harness.spaces import get_space

    fn = SEARCHES.get(name)
    _check_options(name, fn, options)
    if isinstance(space, str):
        space = get_space(space)
    budget = check_budget(budget)
    rng = np.random.default_rng([int(seed), SEED_TAG])
    result = fn(space, scorer, rng, budget, **options)
    out = {"search": name, "space": space.name, "seed": int(seed), "budget": budget,
           **result.to_dict()}
    if truth is not None:
        attach_truth(space, out, truth)
    return out
