"""Search strategies over a scored space (registered in SEARCHES, loaded on first lookup).

    from harness.search import CachedScorer, run_search
    scorer = CachedScorer(space, lambda arch: accuracy_of(arch))
    out = run_search("evolutionary", space, scorer, seed=0, budget=300, truth=gt)

Strategies in SEARCHES: "random", "evolutionary" (SPOS-style), "bse" (Boltzmann softmax
exploration).
"""

from harness.search.base import (
    SEARCHES,
    SEED_TAG,
    SearchResult,
    Tracker,
    attach_truth,
    draw_distinct,
    register_search,
    run_search,
    strategy_options,
    truth_by_network,
)
from harness.search.scorers import CachedScorer, Scorer, SupernetScorer, TableScorer
from harness.search.strategies import MUTATIONS

__all__ = [
    "MUTATIONS",
    "SEARCHES",
    "SEED_TAG",
    "CachedScorer",
    "Scorer",
    "SearchResult",
    "SupernetScorer",
    "TableScorer",
    "Tracker",
    "attach_truth",
    "draw_distinct",
    "register_search",
    "run_search",
    "strategy_options",
    "truth_by_network",
]
