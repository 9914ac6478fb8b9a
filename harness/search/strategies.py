"""The search strategies: random, evolutionary (SPOS-style) and Boltzmann softmax exploration."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from harness.errors import HarnessError
from harness.registry import Registry
from harness.search.base import SearchResult, Tracker, check_budget, draw_distinct, register_search
from harness.search.scorers import Scorer
from harness.spaces.base import Arch, SearchSpace

# ---------------------------------------------------------------- random


@register_search("random")
def random_search(space: SearchSpace, scorer: Scorer, rng: np.random.Generator, budget: int, *,
                  top_n: int = 5) -> SearchResult:
    """Score `budget` distinct networks drawn uniformly (codes from `space.sample`, seeded, first
    occurrence of each network kept); pick the best. In an enumerable space a budget of at least
    the number of distinct networks scores all of them (in a seeded order)."""
    budget = check_budget(budget)
    tracker = Tracker(space, scorer, budget)
    for arch in draw_distinct(space, rng, budget):
        tracker.evaluate(arch)
    return tracker.result("random", {"top_n": top_n}, top_n)


# ---------------------------------------------------------------- evolutionary

Mutation = Callable[[SearchSpace, Arch, np.random.Generator, float], Arch]
MUTATIONS: Registry[Mutation] = Registry("mutation operator")


def mutate_positions(space: SearchSpace, arch: Arch, rng: np.random.Generator,
                     prob: float) -> Arch:
    """Generic mutation: each position, with probability `prob`, takes a uniformly drawn choice."""
    child = list(arch)
    for i, options in enumerate(space.choices):
        if rng.random() < prob:
            child[i] = int(rng.integers(len(options)))
    return tuple(child)


@MUTATIONS.register("pooling")
def mutate_move_pool(space: SearchSpace, arch: Arch, rng: np.random.Generator,
                     prob: float) -> Arch:
    """Pooling space: move one of the two pools to a layer without one (keeps exactly two)."""
    ones = [i for i, bit in enumerate(arch) if bit]
    zeros = [i for i, bit in enumerate(arch) if not bit]
    child = list(arch)
    child[ones[int(rng.integers(len(ones)))]] = 0
    child[zeros[int(rng.integers(len(zeros)))]] = 1
    return tuple(child)


def crossover_uniform(space: SearchSpace, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
    """Uniform crossover: each position from either parent with probability 1/2."""
    mask = rng.random(len(a)) < 0.5
    return tuple(int(x) if m else int(y) for x, y, m in zip(a, b, mask))


def _new_child(space: SearchSpace, make: Callable[[], Arch], blocked: Callable[[str], bool],
               max_tries: int) -> Arch | None:
    """A valid child whose network is not blocked, re-drawn up to `max_tries` times; else None."""
    for _ in range(max_tries):
        child = make()
        if not space.is_valid(child):
            continue
        rep = space.canonical(child)
        if not blocked(space.key(rep)):
            return rep
    return None


def _one(parents: list[Arch], rng: np.random.Generator) -> Arch:
    return parents[int(rng.integers(len(parents)))]


def _two(parents: list[Arch], rng: np.random.Generator) -> tuple[Arch, Arch]:
    if len(parents) < 2:
        return parents[0], parents[0]
    i, j = rng.choice(len(parents), size=2, replace=False)
    return parents[int(i)], parents[int(j)]


@register_search("evolutionary")
def evolutionary_search(space: SearchSpace, scorer: Scorer, rng: np.random.Generator,
                        budget: int, *, population_size: int = 50, top_k: int = 10,
                        n_mutation: int = 25, n_crossover: int = 25, mutation_prob: float = 0.1,
                        max_generations: int = 20, max_tries: int = 50, top_n: int = 5
                        ) -> SearchResult:
    """SPOS-style evolutionary search (Guo et al. 2020) on the full `score`.

    Defaults: population_size 50, top_k 10, n_mutation 25, n_crossover 25, mutation_prob 0.1,
    max_generations 20, max_tries 50, top_n 5.

    The initial population is `population_size` distinct random networks. Each generation takes
    the `top_k` best networks scored so far as parents and makes `n_mutation` children (a random
    parent mutated: each position re-drawn with probability `mutation_prob`; in the pooling space
    one pool moves to another layer) and `n_crossover` children (uniform crossover of two distinct
    random parents). A child must be valid (`space.is_valid`) and a network (canonical key) not
    scored before and not already in the generation; otherwise it is re-drawn, up to `max_tries`
    times, then skipped. The generation is filled up to `population_size` with random unseen
    networks (as SPOS does). Stops when `budget` distinct networks have been scored, after
    `max_generations` generations, or when no new network can be found.
    """
    budget = check_budget(budget)
    if top_k < 1 or population_size < 1 or n_mutation < 0 or n_crossover < 0:
        raise HarnessError("evolutionary search: top_k and population_size must be >= 1, "
                           "n_mutation and n_crossover >= 0")
    options = {"population_size": population_size, "top_k": top_k, "n_mutation": n_mutation,
               "n_crossover": n_crossover, "mutation_prob": mutation_prob,
               "max_generations": max_generations, "max_tries": max_tries, "top_n": top_n}
    mutate = MUTATIONS.get(space.name) if space.name in MUTATIONS else mutate_positions
    tracker = Tracker(space, scorer, budget)
    for arch in draw_distinct(space, rng, min(population_size, budget)):
        tracker.evaluate(arch)

    generations = 0
    while generations < max_generations and not tracker.exhausted:
        parents = tracker.top_archs(top_k)
        children: dict[str, Arch] = {}

        def blocked(key: str, children: dict[str, Arch] = children) -> bool:
            return tracker.seen(key) or key in children

        for _ in range(n_mutation):
            child = _new_child(space, lambda p=parents: mutate(space, _one(p, rng), rng,
                                                                 mutation_prob),
                               blocked, max_tries)
            if child is not None:
                children[space.key(child)] = child
        for _ in range(n_crossover):
            child = _new_child(space, lambda p=parents: crossover_uniform(space, *_two(p, rng),
                                                                          rng),
                               blocked, max_tries)
            if child is not None:
                children[space.key(child)] = child
        missing = population_size - len(children)
        if missing > 0:
            for arch in draw_distinct(space, rng, missing,
                                      exclude=list(tracker.scores) + list(children)):
                children[space.key(arch)] = arch
        if not children:
            break
        generations += 1
        for arch in children.values():
            if tracker.evaluate(arch) is None:
                break
    return tracker.result("evolutionary", options, top_n, extra={"generations": generations})


# ---------------------------------------------------------------- Boltzmann softmax exploration


def _candidate_pool(space: SearchSpace, rng: np.random.Generator, pool_size: int) -> list[Arch]:
    if space.enumerable:
        every = list(space.distinct())
        if len(every) <= pool_size:
            return every
        return [every[i] for i in np.sort(rng.choice(len(every), size=pool_size, replace=False))]
    return draw_distinct(space, rng, pool_size)


@register_search("bse")
def bse_search(space: SearchSpace, scorer: Scorer, rng: np.random.Generator, budget: int, *,
               pool_size: int = 1000, temperature: float = 1.0, t_decay: float = 1.0,
               n_init: int | None = None, min_visits: int = 2, top_n: int = 5) -> SearchResult:
    """Boltzmann softmax exploration: draw a ~ softmax(R(a) / T) over a candidate pool.

    Defaults: pool_size 1000, temperature 1.0, t_decay 1.0, n_init None (= min(pool, budget//2)),
    min_visits 2, top_n 5.

    Pool: every distinct network of an enumerable space, or a seeded subset of `pool_size` of them;
    otherwise `pool_size` distinct seeded samples. R(a) is the running mean of the architecture's
    one-batch accuracies (`scorer.batch_score(a, i)` with i its visit count, so repeated visits see
    successive batches). The budget counts one-batch evaluations: `n_init` seeded candidates are
    evaluated once each (unexplored ones get R = the mean of the explored), then `budget - n_init`
    draws each add one batch to the drawn architecture's mean. T is in accuracy-percentage units
    (T = 1: one point of accuracy multiplies the odds by e) and is multiplied by `t_decay` after
    every draw (annealing; 1.0 = constant).

    Pick: the `top_n` architectures with the highest R among those visited >= `min_visits` times
    (topped up by the best of those visited once when too few) get a full `scorer.score`; they are
    reported best full score first. So n_evaluations <= top_n, n_batch_evaluations <= budget.
    extra: visits and rewards of every visited architecture, the pool size and n_init.
    """
    budget = check_budget(budget)
    if temperature <= 0 or t_decay <= 0:
        raise HarnessError("bse: temperature and t_decay must be > 0")
    pool = _candidate_pool(space, rng, pool_size)
    if not pool:
        raise HarnessError(f"bse: no candidate architectures in space '{space.name}'")
    keys = [space.key(a) for a in pool]
    n = len(pool)
    n_init_used = min(n, budget // 2) if n_init is None else max(0, min(n, int(n_init), budget))
    options = {"pool_size": pool_size, "temperature": temperature, "t_decay": t_decay,
               "n_init": n_init, "min_visits": min_visits, "top_n": top_n}

    sums = np.zeros(n)
    visits = np.zeros(n, dtype=np.int64)
    reward = np.zeros(n)
    history: list[tuple[int, float]] = []
    best = -np.inf
    spent = 0

    def observe(i: int) -> None:
        nonlocal spent, best
        value = float(scorer.batch_score(pool[i], int(visits[i])))
        sums[i] += value
        visits[i] += 1
        reward[i] = sums[i] / visits[i]
        spent += 1
        best = float(reward[visits > 0].max())
        history.append((spent, best))

    for i in rng.choice(n, size=n_init_used, replace=False):
        observe(int(i))
    explored = visits > 0
    if explored.any():
        reward[~explored] = reward[explored].mean()

    t = float(temperature)
    for _ in range(budget - n_init_used):
        z = (reward - reward.max()) / t
        p = np.exp(z)
        p /= p.sum()
        observe(int(rng.choice(n, p=p)))
        t *= t_decay

    visited = np.flatnonzero(visits > 0)
    order = sorted(visited, key=lambda i: (visits[i] < min_visits, -reward[i], i))
    chosen = [pool[i] for i in order[:top_n]]
    tracker = Tracker(space, scorer, max(1, top_n))
    for arch in chosen:
        tracker.evaluate(arch)
    extra = {
        "pool_size": n,
        "n_init": n_init_used,
        "visits": {keys[i]: int(visits[i]) for i in visited},
        "rewards": {keys[i]: float(reward[i]) for i in visited},
        "final_temperature": t,
    }
    result = tracker.result("bse", options, top_n, n_batch_evaluations=spent, extra=extra)
    result.history = history
    return result
