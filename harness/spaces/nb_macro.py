"""NAS-Bench-Macro: 8 searchable layers of a MobileNet-like CIFAR-10 network.

Choices per layer: 0 identity, 1 MB3_K3, 2 MB6_K5, so 3^8 = 6561 codes. The key is the 8-digit
code, e.g. "22212220". Layers form three stages (0-1, 2-4, 5-7); the first layer of a stage has
stride 2 and doubles the channels, so an identity there is a 1x1 stride-2 conv + BN and keeps its
position. Identities elsewhere in a stage are true identities and commute with the layers around
them, so only 3969 of the 6561 codes are distinct networks.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.spaces.base import Arch, SearchSpace, register_space

OPS = ["identity", "mb3_k3", "mb6_k5"]
STAGES = ((0, 1), (2, 3, 4), (5, 6, 7))
N_LAYERS = 8
FORMS = ("8 digits in 0/1/2 (0 identity, 1 mb3_k3, 2 mb6_k5), e.g. '22212220'",)


def sink_identities(arch: Arch, stages: Sequence[Sequence[int]], identity: int = 0) -> Arch:
    """Within each stage, keep the first position and move later identities to the stage's end.

    The first position of a stage changes the resolution or width, so it is never position-free.
    """
    out = list(arch)
    for stage in stages:
        rest = [arch[i] for i in stage[1:]]
        ops = [op for op in rest if op != identity]
        ops += [identity] * (len(rest) - len(ops))
        for i, op in zip(stage[1:], ops):
            out[i] = op
    return tuple(out)


@register_space("nb-macro")
class NBMacroSpace(SearchSpace):
    """NAS-Bench-Macro: 3 choices at each of 8 layers; identities free inside a stage."""

    description = "NAS-Bench-Macro, 8 layers x {identity, MB3_K3, MB6_K5} (CIFAR-10), 6561 codes"

    @property
    def choices(self) -> list[list[str]]:
        return [list(OPS) for _ in range(N_LAYERS)]

    def key(self, arch: Arch) -> str:
        return "".join(str(int(a)) for a in arch)

    def parse(self, text: str) -> Arch:
        s = text.strip()
        if len(s) != N_LAYERS:
            raise self._reject(text, f"{len(s)} characters, not 8", FORMS)
        bad = sorted({c for c in s if c not in "012"})
        if bad:
            raise self._reject(text, f"invalid characters {''.join(bad)!r}", FORMS)
        return tuple(int(c) for c in s)

    def canonical(self, arch: Arch) -> Arch:
        return sink_identities(arch, STAGES)
