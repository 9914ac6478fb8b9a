"""The search-space interface shared by every space.

An architecture is a tuple of ints, one choice index per searchable position. The canonical key is
the string the published benchmark uses. Equivalent architectures (the same network written two
ways) map to one representative through `canonical`.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from functools import cached_property

import numpy as np

from harness.errors import ArchKeyError
from harness.registry import Registry

Arch = tuple[int, ...]


class SearchSpace(ABC):
    """Choices per position, size, enumeration, seeded sampling, keys, equivalence, distance."""

    name: str = ""
    description: str = ""

    @property
    @abstractmethod
    def choices(self) -> list[list[str]]:
        """Names of the choices at each searchable position."""

    @property
    def n_positions(self) -> int:
        return len(self.choices)

    @property
    def size(self) -> int:
        """Number of architectures (codes), equivalent ones counted separately."""
        return int(np.prod([len(c) for c in self.choices], dtype=object))

    @property
    def enumerable(self) -> bool:
        return self.size <= 10**6

    def is_valid(self, arch: Arch) -> bool:
        return len(arch) == self.n_positions and all(
            0 <= a < len(c) for a, c in zip(arch, self.choices)
        )

    def enumerate(self) -> Iterator[Arch]:
        """Every architecture, in a fixed order."""
        if not self.enumerable:
            raise ArchKeyError(f"space '{self.name}' has {self.size} architectures: not enumerable")
        for arch in itertools.product(*[range(len(c)) for c in self.choices]):
            if self.is_valid(arch):
                yield tuple(arch)

    def sample(self, rng: np.random.Generator) -> Arch:
        """One architecture drawn uniformly, from an explicit generator."""
        return tuple(int(rng.integers(len(c))) for c in self.choices)

    @abstractmethod
    def key(self, arch: Arch) -> str:
        """The canonical key the published benchmark uses."""

    @abstractmethod
    def parse(self, text: str) -> Arch:
        """An architecture from any key form the space accepts; ArchKeyError if malformed."""

    def canonical(self, arch: Arch) -> Arch:
        """The representative of the architecture's equivalence class (the same network)."""
        return tuple(arch)

    def canonical_key(self, text_or_arch: str | Arch) -> str:
        arch = self.parse(text_or_arch) if isinstance(text_or_arch, str) else text_or_arch
        return self.key(self.canonical(arch))

    def encoding(self, arch: Arch) -> np.ndarray:
        """Vector encoding on which Hamming distance is taken."""
        return np.asarray(arch, dtype=np.int64)

    def hamming(self, a: Arch, b: Arch) -> int:
        return int(np.sum(self.encoding(a) != self.encoding(b)))

    def distinct(self) -> Iterator[Arch]:
        """One representative per equivalence class, in enumeration order."""
        seen: set[Arch] = set()
        for arch in self.enumerate():
            rep = self.canonical(arch)
            if rep not in seen:
                seen.add(rep)
                yield rep

    @cached_property
    def n_distinct(self) -> int | None:
        """Number of distinct networks, computed from the definition; None if not enumerable."""
        if not self.enumerable:
            return None
        return sum(1 for _ in self.distinct())

    def official_order(self) -> list[Arch] | None:
        """Every architecture in the benchmark's own index order; None where the space has none."""
        return None

    def official_index(self, arch: Arch) -> int | None:
        """The benchmark's own index of the architecture (NAS-Bench-201's API index); None where
        the space has none."""
        return None

    def key_forms(self, arch: Arch) -> list[str]:
        """Every form of the key `parse` accepts for this architecture, the canonical key first."""
        return [self.key(arch)]

    @cached_property
    def _classes(self) -> dict[Arch, list[Arch]]:
        classes: dict[Arch, list[Arch]] = {}
        for arch in self.enumerate():
            classes.setdefault(self.canonical(arch), []).append(arch)
        return classes

    def equivalence_class(self, arch: Arch) -> list[Arch]:
        """Every architecture that is the same network as `arch`, in enumeration order
        (only `arch` itself in a space too large to enumerate)."""
        if not self.enumerable:
            return [tuple(arch)]
        return list(self._classes[self.canonical(arch)])

    def first_member(self, arch: Arch) -> Arch:
        """The member of the class with the lowest official index (NAS-Bench-201 papers' choice
        among isomorphic cells); the canonical representative where the space has no index."""
        members = self.equivalence_class(arch)
        indexed = [(self.official_index(m), m) for m in members]
        if any(i is None for i, _ in indexed):
            return self.canonical(arch)
        return min(indexed)[1]

    def summary(self) -> dict:
        return {
            "name": self.name,
            "description": self.description,
            "size": self.size,
            "n_distinct": self.n_distinct,
            "enumerable": self.enumerable,
            "n_positions": self.n_positions,
            "choices": self.choices,
        }

    def _reject(self, text: str, why: str, forms: Sequence[str]) -> ArchKeyError:
        return ArchKeyError(
            f"malformed {self.name} architecture key {text!r}: {why}; "
            f"expected {' or '.join(forms)}"
        )


SPACES: Registry[type[SearchSpace]] = Registry("search space", providers="harness.spaces")


def register_space(name: str):
    """Class decorator: register a SearchSpace subclass under `name`."""

    def decorator(cls: type[SearchSpace]) -> type[SearchSpace]:
        cls.name = name
        return SPACES.register(name)(cls)

    return decorator


_instances: dict[str, SearchSpace] = {}


def get_space(name: str) -> SearchSpace:
    """The (cached) space registered under `name`; a did-you-mean error otherwise."""
    if name not in _instances:
        _instances[name] = SPACES.get(name)()
    return _instances[name]
