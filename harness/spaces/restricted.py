"""A search space limited to a given set of networks: the networks a sampled ground-truth table
covers (nb-macro-fmnist's 200 of 3,969, nb201-fmnist's cells). Search over it picks only networks
the table can score, so a search result there is "the best of the covered networks", which a
table built from it must say."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from harness.errors import HarnessError
from harness.spaces.base import Arch, SearchSpace


class RestrictedSpace(SearchSpace):
    """`base` limited to the networks of `keys` (any key form; equivalent codes merged). Keys,
    parsing, equivalence and choices are the base space's; sampling draws a covered network
    uniformly, and a code outside the set is not valid (so mutations re-draw)."""

    def __init__(self, base: SearchSpace, keys: Iterable[str]):
        self.base = base
        self.name = base.name
        self.description = f"{base.name} restricted to given networks"
        members: dict[str, Arch] = {}
        for key in keys:
            arch = base.canonical(base.parse(str(key)))
            members.setdefault(base.key(arch), arch)
        if not members:
            raise HarnessError(f"a restricted {base.name} space needs at least one network")
        self._members = list(members.values())
        self._keys = set(members)

    @property
    def choices(self) -> list[list[str]]:
        return self.base.choices

    @property
    def size(self) -> int:
        return len(self._members)

    @property
    def enumerable(self) -> bool:
        return True

    @property
    def n_distinct(self) -> int:
        return len(self._members)

    @property
    def n_base_distinct(self) -> int | None:
        return self.base.n_distinct

    def is_valid(self, arch: Arch) -> bool:
        return self.base.is_valid(arch) and self.base.key(self.base.canonical(arch)) in self._keys

    def enumerate(self) -> Iterator[Arch]:
        return iter(self._members)

    def distinct(self) -> Iterator[Arch]:
        return iter(self._members)

    def sample(self, rng: np.random.Generator) -> Arch:
        return self._members[int(rng.integers(len(self._members)))]

    def key(self, arch: Arch) -> str:
        return self.base.key(arch)

    def parse(self, text: str) -> Arch:
        return self.base.parse(text)

    def canonical(self, arch: Arch) -> Arch:
        return self.base.canonical(arch)

    def encoding(self, arch: Arch) -> np.ndarray:
        return self.base.encoding(arch)
