"""FairNAS strict fairness (Chu et al. 2021): every choice of every layer once per update.

At each step, m = max number of choices over positions paths are returned; for each position an
independent uniformly random permutation of its choices is drawn, and path j takes the j-th entry
of every position's permutation. The runner sums the m path losses (their gradients accumulate,
undivided, as in FairNAS) and makes ONE optimizer step, so every candidate op gets the full
gradient of its own path once per update.

Fresh permutations are drawn at EVERY step. Reusing one fixed set of m paths for a whole epoch
would also be "fair" per step, but then only m of the architectures (the same co-occurrences of
choices across layers) would ever be trained together for that epoch, a strong bias of its own.

Positions with fewer choices c < m (not the case in the published spaces, where every position
has the same number) are filled by cycling: independent permutations of their c choices are
concatenated and cut at m, so each of their choices appears floor(m / c) or ceil(m / c) times.

Constrained spaces. Strict fairness needs every combination of choices to be a valid path. In the
pooling space (exactly two pools among 9 layers) it is impossible: each path pools 2 of 9 layers,
so across any set of paths "pool" appears 2/7 as often as "none" at every layer on average, never
equally. We implement a documented relaxation for pooling: each step returns 9 paths forming a
random Hamiltonian cycle over the 9 layers -- a uniformly random permutation pi of the layers,
path j pools layers pi[j] and pi[j+1 mod 9] -- so that every layer is pooled in exactly 2 and
unpooled in exactly 7 of the 9 paths (its frequency under uniform sampling, 2/9, with zero
variance), and every path is marginally uniform over the 36 architectures. On pooling, "fairnas"
therefore differs from uniform sampling only by the 9 paths per update and the balanced
coverage. Any other constrained space raises HarnessError (use "uniform").
"""

from __future__ import annotations

import numpy as np

from harness.errors import HarnessError
from harness.samplers.base import Sampler, register_sampler
from harness.spaces.base import Arch, SearchSpace
from harness.spaces.pooling import PoolingSpace


def _unconstrained(space: SearchSpace) -> bool:
    return space.size == int(np.prod([len(c) for c in space.choices], dtype=object))


@register_sampler("fairnas", "FairNAS strict fairness: m paths per update, each choice once per layer")
class FairNASSampler(Sampler):
    def __init__(self, space: SearchSpace, seed: int, warmup_epochs: int = 0, **options):
        super().__init__(space, seed, warmup_epochs=warmup_epochs, **options)
        self.n_choices = [len(c) for c in space.choices]
        self.pooling = isinstance(space, PoolingSpace)
        if not self.pooling and not _unconstrained(space):
            raise HarnessError(
                f"fairnas: space '{space.name}' is constrained ({space.size} valid of "
                f"{int(np.prod(self.n_choices, dtype=object))} combinations), so strict fairness "
                "(every choice of every layer once per update) is impossible; use --sampler uniform")
        self.m = len(self.n_choices) if self.pooling else max(self.n_choices)

    @classmethod
    def strict_on(cls, space: SearchSpace) -> bool:
        return _unconstrained(space)  # elsewhere: pooling's relaxation, or refused

    def paths(self, step: int) -> list[Arch]:
        if self.pooling:
            return self._pooling_paths()
        columns = []
        for c in self.n_choices:
            perm = self.rng.permutation(c)
            while len(perm) < self.m:  # cycle: fewer choices than m (see the module docstring)
                perm = np.concatenate([perm, self.rng.permutation(c)])
            columns.append(perm[: self.m])
        return [tuple(int(col[j]) for col in columns) for j in range(self.m)]

    def _pooling_paths(self) -> list[Arch]:
        n = len(self.n_choices)
        order = self.rng.permutation(n)
        out = []
        for j in range(n):
            pooled = {int(order[j]), int(order[(j + 1) % n])}
            out.append(tuple(int(i in pooled) for i in range(n)))
        return out

    def sample(self, step: int) -> Arch:
        return self.paths(step)[0]
