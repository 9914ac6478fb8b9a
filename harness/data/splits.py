"""Seeded, class-stratified subsets and 50/50 partitions of a labelled set.

Both functions work on a 1-D integer label array and return sorted positions into it, so the same
code serves the in-memory tensors and the ImageNet folder lists. Randomness comes only from the
`numpy.random.Generator` passed in; `split_rng` derives independent streams from one seed.
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError

# Independent random streams derived from one run seed (numpy SeedSequence entropy [seed, stream]),
# so that e.g. changing --subset does not change how the test subset is drawn.
STREAMS = {"subset-train": 0, "subset-test": 1, "supernet-halves": 2}


def split_rng(seed: int, stream: str) -> np.random.Generator:
    """The numpy generator for `stream` (a key of STREAMS) under the run seed `seed`."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise HarnessError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), STREAMS[stream]])


def _groups(labels: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Classes in increasing order and, for each, its positions in increasing order."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    order = np.argsort(labels, kind="stable")
    classes, counts = np.unique(labels, return_counts=True)
    return classes, np.split(order, np.cumsum(counts)[:-1])


def stratified_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of `n` items whose class proportions follow those of `labels`.

    Each class gets floor(n * count / total) items; the remaining items go to the classes with the
    largest fractional quotas (ties: lower class first), so exactly `n` are kept. Within a class the
    items are drawn uniformly without replacement with `rng`.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise HarnessError(f"subset size must be a positive integer, got {n!r}")
    if n > total:
        raise HarnessError(
            f"subset of {n} asked for, but only {total} images are available; pass a smaller subset"
        )
    classes, members = _groups(labels)
    counts = np.array([len(m) for m in members], dtype=np.int64)
    quota, remainder = np.divmod(counts * int(n), total)
    short = int(n) - int(quota.sum())
    # Largest remainders first, ties broken by class order (lexsort: last key is primary).
    order = np.lexsort((np.arange(len(classes)), -remainder))
    quota[order[:short]] += 1
    chosen = [rng.choice(m, size=int(k), replace=False) for m, k in zip(members, quota) if k > 0]
    return np.sort(np.concatenate(chosen)) if chosen else np.zeros(0, dtype=np.int64)


def stratified_halves(
    labels: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A disjoint, covering, class-stratified 50/50 partition: (first, second) sorted positions.

    Every class is shuffled with `rng` and cut in half. A class with an odd count gives its extra
    item alternately to the first and the second half (in class order, first half first), so per
    class the halves differ by at most one item and overall the first half has ceil(N/2) items.
    """
    labels = np.asarray(labels)
    if len(labels) < 2:
        raise HarnessError(
            f"cannot split {len(labels)} image(s) into two halves; use a larger subset"
        )
    _, members = _groups(labels)
    first: list[np.ndarray] = []
    second: list[np.ndarray] = []
    extra_to_first = True
    for m in members:
        perm = rng.permutation(m)
        half = len(m) // 2
        if len(m) % 2:
            half += int(extra_to_first)
            extra_to_first = not extra_to_first
        first.append(perm[:half])
        second.append(perm[half:])
    return np.sort(np.concatenate(first)), np.sort(np.concatenate(second))
