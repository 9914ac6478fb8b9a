"""MobileNetV2-style ImageNet space: 21 searchable blocks, 13 choices each (13^21 codes).

Choice 0 is identity; choices 1..12 are inverted residuals in the order expand (3, 6) x kernel
(3, 5, 7) x (no SE, SE): 1 mb3_k3, 2 mb3_k3_se, 3 mb3_k5, 4 mb3_k5_se, 5 mb3_k7, 6 mb3_k7_se,
7 mb6_k3, 8 mb6_k3_se, 9 mb6_k5, 10 mb6_k5_se, 11 mb6_k7, 12 mb6_k7_se. The key writes each block's
choice as one base-13 digit from "0123456789abc", 21 characters. As in NAS-Bench-Macro, the first
block of a stage changes stride or width and keeps its position; later identities are free.
"""

from __future__ import annotations

import itertools

from harness.spaces.base import Arch, SearchSpace, register_space
from harness.spaces.nb_macro import sink_identities

STAGES = ((32, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
N_BLOCKS = sum(layers for _, layers, _ in STAGES)
_SPECS: list[tuple[int | None, int | None, bool]] = [(None, None, False)] + [
    (e, k, se) for e, k, se in itertools.product((3, 6), (3, 5, 7), (False, True))
]
OPS = ["identity"] + [f"mb{e}_k{k}{'_se' if se else ''}" for e, k, se in _SPECS[1:]]
ALPHABET = "0123456789abc"
# Block indices of each stage, e.g. (0, 1, 2, 3), ..., (20,).
STAGE_BLOCKS = tuple(
    tuple(range(start, start + layers))
    for start, (_, layers, _) in zip(itertools.accumulate([0] + [s[1] for s in STAGES]), STAGES)
)
FORMS = ("21 base-13 digits from '0123456789abc' (0 identity, 1..c the MB blocks)",)


def op_spec(choice: int | str) -> tuple[int | None, int | None, bool]:
    """(expand ratio, kernel size, squeeze-excite) of a choice index or name; identity -> None."""
    index = OPS.index(choice) if isinstance(choice, str) else int(choice)
    if not 0 <= index < len(_SPECS):
        raise ValueError(f"choice index {index} outside 0..{len(_SPECS) - 1}")
    return _SPECS[index]


@register_space("mobilenet")
class MobileNetSpace(SearchSpace):
    """MobileNetV2 ImageNet space; too large to enumerate."""

    description = (
        "MobileNetV2 ImageNet space, 21 blocks x 13 choices (MB3/6, K3/5/7, SE) + identity"
    )

    @property
    def choices(self) -> list[list[str]]:
        return [list(OPS) for _ in range(N_BLOCKS)]

    def op_spec(self, choice: int | str) -> tuple[int | None, int | None, bool]:
        return op_spec(choice)

    def key(self, arch: Arch) -> str:
        return "".join(ALPHABET[a] for a in arch)

    def parse(self, text: str) -> Arch:
        s = text.strip().lower()
        if len(s) != N_BLOCKS:
            raise self._reject(text, f"{len(s)} characters, not {N_BLOCKS}", FORMS)
        bad = sorted({c for c in s if c not in ALPHABET})
        if bad:
            raise self._reject(text, f"invalid characters {''.join(bad)!r}", FORMS)
        return tuple(ALPHABET.index(c) for c in s)

    def canonical(self, arch: Arch) -> Arch:
        return sink_identities(arch, STAGE_BLOCKS)
