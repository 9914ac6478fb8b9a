"""Weight-sharing supernets and stand-alone networks of every search space.

    from harness.nets import NetConfig, build_supernet, build_standalone
    supernet = build_supernet("nb-macro", NetConfig())
    logits = supernet(x, arch)                       # runs only arch's path
    net = build_standalone("nb-macro", arch, NetConfig())
    net.load_state_dict(supernet.path_state_dict(arch))   # strict: same keys

Each space's module registers its builder in NETS ("pooling", "nb-macro", "nb201",
"mobilenet"), loaded on the registry's first lookup.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from harness.nets.common import NETS, Choice, NetBuilder, NetConfig, Supernet


def build_supernet(space_name: str, cfg: NetConfig | None = None) -> Supernet:
    """The supernet of a space; a did-you-mean error for an unknown name."""
    return NETS.get(space_name).build_supernet(cfg)


def build_standalone(
    space_name: str, arch: Sequence[int], cfg: NetConfig | None = None
) -> nn.Module:
    """The stand-alone network of one architecture of a space."""
    return NETS.get(space_name).build_standalone(arch, cfg)


__all__ = [
    "NETS",
    "Choice",
    "NetBuilder",
    "NetConfig",
    "Supernet",
    "build_standalone",
    "build_supernet",
]
