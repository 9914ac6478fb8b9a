"""Arms: the groups a table compares. A run's label ends with its arm: "<space>/<arm>" ("pooling/debiased",
"pooling/debiased-tau0.5", "pooling/kde", "nb-macro/tau=0.5") or "<space>/<benchmark>/<arm>"
(NB-201). Two arms can share a sampler (the
paper's debiased arm and a tilted one), so tables, paired comparisons, plans and figures group runs
by arm, never by sampler name."""

from __future__ import annotations

from collections.abc import Mapping


def arm_of(result: Mapping) -> str:
    """The arm of a run spec's or result's label (its last part); the sampler's name when it has
    no label."""
    label = result.get("label") or ""
    return label.rsplit("/", 1)[1] if "/" in label else result["sampler"]
