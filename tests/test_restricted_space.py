"""Search restricted to the networks a sampled benchmark covers."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import HarnessError
from harness.search import run_search
from harness.spaces import get_space
from harness.spaces.restricted import RestrictedSpace


class TableScorer:
    """Scores by a fixed table (a supernet stand-in): the search's ranking is known."""

    def __init__(self, space, scores: dict[str, float]):
        self.space, self.scores, self.calls = space, scores, []

    def score(self, arch):
        key = self.space.key(self.space.canonical(arch))
        self.calls.append(key)
        return self.scores[key]

    def batch_score(self, arch, visit: int):  # BSE's one-batch score: the same table
        return self.score(arch)


def covered_macro(n: int = 40):
    space = get_space("nb-macro")
    rng = np.random.default_rng(3)
    keys = list(dict.fromkeys(space.canonical_key(space.sample(rng)) for _ in range(4 * n)))[:n]
    return space, keys


def test_a_restricted_space_holds_only_its_networks():
    space, keys = covered_macro()
    restricted = RestrictedSpace(space, keys + keys[:5])  # duplicates merged
    assert restricted.n_distinct == len(keys) == restricted.size
    assert {space.key(a) for a in restricted.distinct()} == set(keys)
    rng = np.random.default_rng(0)
    assert all(space.key(restricted.sample(rng)) in keys for _ in range(200))
    outside = next(a for a in space.distinct() if space.key(a) not in keys)
    assert not restricted.is_valid(outside) and restricted.is_valid(space.parse(keys[0]))
    with pytest.raises(HarnessError, match="at least one network"):
        RestrictedSpace(space, [])


@pytest.mark.parametrize("strategy, budget", [("random", 12), ("evolutionary", 12),
                                              ("bse", 30)])
def test_every_strategy_picks_and_scores_only_covered_networks(strategy, budget):
    space, keys = covered_macro()
    scores = {k: float(i) for i, k in enumerate(keys)}
    restricted = RestrictedSpace(space, keys)
    scorer = TableScorer(space, scores)
    options = ({"population_size": 6, "top_k": 3, "n_mutation": 3, "n_crossover": 3}
               if strategy == "evolutionary" else {})
    found = run_search(strategy, restricted, scorer, seed=0, budget=budget, **options)
    assert set(scorer.calls) <= set(keys)
    assert all(k in keys for k in found["picked"])
    if strategy == "random":  # 12 distinct covered networks, the best of them picked
        assert len(set(scorer.calls)) == 12
        assert found["picked"][0] == max(set(scorer.calls), key=scores.__getitem__)
