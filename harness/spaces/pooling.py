"""The pooling benchmark: where ResNet20 downsamples.

ResNet20 is written as 10 layers (layer 0 the stem, layers 1..9 basic blocks). A 2x2 max-pool is
placed before exactly 2 of layers 1..9, giving C(9, 2) = 36 architectures. An architecture is 9
bits (layers 1..9, 1 = pool before that layer) with exactly two ones.

Key forms:
  * bit code (canonical): 10 characters, bit 0 (stem) always '0', bit i = '1' when a pool is
    before layer i, e.g. "0000100100" (commas allowed: "0,0,0,0,1,0,0,1,0,0");
  * blocks [b1,b2,b3]: layers at each resolution, e.g. "[4,3,3]", "4,3,3", "4-3-3";
  * benchmark id 1..36: "id:24", "#24" or "24", numbered in itertools.combinations order of the
    pooled layers (id 1 = pools before 1,2; id 24 = [4,3,3], the usual ResNet20).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import numpy as np

from harness.spaces.base import Arch, SearchSpace, register_space

N_LAYERS = 10  # stem + 9 blocks
POSITIONS = tuple(itertools.combinations(range(1, N_LAYERS), 2))  # benchmark id - 1 -> pools
FORMS = (
    "a 10-bit code with stem bit 0 and two 1s ('0000100100')",
    "blocks '[b1,b2,b3]' / 'b1,b2,b3' / 'b1-b2-b3' (each >= 1, sum 10)",
    "a benchmark id 'id:N' / '#N' / 'N' with N in 1..36",
)


@register_space("pooling")
class PoolingSpace(SearchSpace):
    """Placement of two max-pools among the 9 blocks of ResNet20 (36 architectures)."""

    description = "ResNet20 with 2 max-pools placed before 2 of layers 1..9 (CIFAR-10), 36 archs"

    @property
    def choices(self) -> list[list[str]]:
        return [["none", "maxpool"] for _ in range(N_LAYERS - 1)]

    @property
    def size(self) -> int:
        return len(POSITIONS)

    def is_valid(self, arch: Arch) -> bool:
        return len(arch) == N_LAYERS - 1 and all(a in (0, 1) for a in arch) and sum(arch) == 2

    def enumerate(self) -> Iterator[Arch]:
        """All 36 architectures in benchmark id order."""
        for pools in POSITIONS:
            yield self._from_pools(pools)

    def sample(self, rng: np.random.Generator) -> Arch:
        return self._from_pools(POSITIONS[int(rng.integers(len(POSITIONS)))])

    # --- conversions -------------------------------------------------------------------------

    @staticmethod
    def _from_pools(pools: tuple[int, int]) -> Arch:
        return tuple(int(layer in pools) for layer in range(1, N_LAYERS))

    @staticmethod
    def pools(arch: Arch) -> tuple[int, int]:
        """The two layer indices (1..9) preceded by a pool, ascending."""
        first, second = (i + 1 for i, bit in enumerate(arch) if bit)
        return first, second

    def blocks(self, arch: Arch) -> tuple[int, int, int]:
        """[b1, b2, b3]: number of layers at each of the three resolutions."""
        first, second = self.pools(arch)
        return first, second - first, N_LAYERS - second

    def from_blocks(self, b1: int, b2: int, b3: int) -> Arch:
        if min(b1, b2, b3) < 1 or b1 + b2 + b3 != N_LAYERS:
            raise self._reject(f"[{b1},{b2},{b3}]", "blocks must be >= 1 and sum to 10", FORMS)
        return self._from_pools((b1, b1 + b2))

    def bench_id(self, arch: Arch) -> int:
        """Benchmark id, 1..36."""
        return POSITIONS.index(self.pools(arch)) + 1

    def from_id(self, bench_id: int) -> Arch:
        if not 1 <= bench_id <= len(POSITIONS):
            raise self._reject(str(bench_id), "benchmark id outside 1..36", FORMS)
        return self._from_pools(POSITIONS[bench_id - 1])

    def encoding(self, arch: Arch) -> np.ndarray:
        return np.asarray((0, *arch), dtype=np.int64)

    def official_index(self, arch: Arch) -> int | None:
        return self.bench_id(arch)  # the benchmark's architecture id, 1..36

    def key_forms(self, arch: Arch) -> list[str]:
        b1, b2, b3 = self.blocks(arch)
        return [self.key(arch), f"[{b1},{b2},{b3}]", f"{b1}-{b2}-{b3}", f"id:{self.bench_id(arch)}"]

    # --- keys --------------------------------------------------------------------------------

    def key(self, arch: Arch) -> str:
        return "0" + "".join(str(int(b)) for b in arch)

    def parse(self, text: str) -> Arch:
        s = text.strip().replace(" ", "")
        low = s.lower()
        if low.startswith("id:") or low.startswith("#"):
            digits = low[3:] if low.startswith("id:") else low[1:]
            if not digits.isdigit():
                raise self._reject(text, "benchmark id is not an integer", FORMS)
            return self._parse_id(text, digits)
        if s.startswith("[") != s.endswith("]"):
            raise self._reject(text, "unbalanced brackets", FORMS)
        inner = s[1:-1] if s.startswith("[") else s
        tokens = re.split(r"[,\-]", inner)
        if len(tokens) == 1:
            if not inner.isdigit():
                raise self._reject(text, "not a bit code, block list or id", FORMS)
            if len(inner) == N_LAYERS:
                return self._parse_bits(text, list(inner))
            if len(inner) > 2:
                raise self._reject(text, f"bit code has {len(inner)} characters, not 10", FORMS)
            return self._parse_id(text, inner)
        if not all(t.isdigit() for t in tokens):
            raise self._reject(text, "entries must be non-negative integers", FORMS)
        if len(tokens) == N_LAYERS:
            return self._parse_bits(text, tokens)
        if len(tokens) == 3:
            b1, b2, b3 = (int(t) for t in tokens)
            if min(b1, b2, b3) < 1 or b1 + b2 + b3 != N_LAYERS:
                raise self._reject(text, "blocks must each be >= 1 and sum to 10", FORMS)
            return self.from_blocks(b1, b2, b3)
        raise self._reject(text, f"{len(tokens)} entries (need 3 blocks or 10 bits)", FORMS)

    def _parse_id(self, text: str, digits: str) -> Arch:
        if not 1 <= int(digits) <= len(POSITIONS):
            raise self._reject(text, "benchmark id outside 1..36", FORMS)
        return self.from_id(int(digits))

    def _parse_bits(self, text: str, bits: list[str]) -> Arch:
        if any(b not in ("0", "1") for b in bits):
            raise self._reject(text, "bit code may contain only 0 and 1", FORMS)
        if bits[0] != "0":
            raise self._reject(text, "stem bit (bit 0) must be 0", FORMS)
        arch = tuple(int(b) for b in bits[1:])
        if sum(arch) != 2:
            raise self._reject(text, f"bit code has {sum(arch)} pools, not 2", FORMS)
        return arch
