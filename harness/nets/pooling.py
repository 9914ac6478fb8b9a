"""Pooling space: ResNet20 whose two 2x2 max-pools move between its 10 layers.

Layer 0 is the stem (3x3 conv in->16, BN, ReLU); layers 1..9 are basic residual blocks
(conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU) with channels 16,16,16 | 32,32,32 | 64,64,64 by
layer index, every conv stride 1, a 1x1 conv + BN projection shortcut where the channels change
(layers 4 and 7); then global average pool and a linear classifier. An architecture is 9 bits for
layers 1..9, 1 = a 2x2 max-pool before that layer (the published space has exactly two ones; the
networks accept any pattern). Every architecture uses every weight: only the resolution at which a
layer runs changes. BN defaults to no affine parameters and no running statistics, as in the
authors' supernets (mehravehj/Balanced-Mixture-of-SuperNets).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from harness.nets.common import (
    NETS,
    Arch,
    NetBuilder,
    NetConfig,
    Norm,
    Supernet,
    check_arch,
    norm_factory,
    scale_channels,
    stem_stride,
)

SPACE = "pooling"
CHANNELS = (16, 16, 16, 16, 32, 32, 32, 64, 64, 64)  # by layer index, 0 = stem
N_POSITIONS = len(CHANNELS) - 1
N_CHOICES = (2,) * N_POSITIONS
DEFAULT_AFFINE = False
DEFAULT_TRACK = False


class StemConv(nn.Module):
    """Layer 0: 3x3 conv, BN, ReLU."""

    def __init__(self, inp: int, oup: int, stride: int, norm: Norm):
        super().__init__()
        self.conv = nn.Conv2d(inp, oup, 3, stride=stride, padding=1, bias=False)
        self.bn = norm(oup)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.relu(self.bn(self.conv(x)))


class BasicBlock(nn.Module):
    """ResNet basic block, stride 1, 1x1 conv + BN projection shortcut when channels change."""

    def __init__(self, inp: int, oup: int, norm: Norm):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, oup, 3, padding=1, bias=False)
        self.bn1 = norm(oup)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(oup, oup, 3, padding=1, bias=False)
        self.bn2 = norm(oup)
        self.downsample: nn.Module | None = None
        if inp != oup:
            self.downsample = nn.Sequential(nn.Conv2d(inp, oup, 1, bias=False), norm(oup))

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


def _build(net: nn.Module, cfg: NetConfig) -> None:
    norm = norm_factory(cfg, DEFAULT_AFFINE, DEFAULT_TRACK)
    ch = [scale_channels(c, cfg) for c in CHANNELS]
    layers: list[nn.Module] = [StemConv(cfg.in_channels, ch[0], stem_stride(cfg, 1), norm)]
    layers += [BasicBlock(ch[i - 1], ch[i], norm) for i in range(1, len(ch))]
    net.layers = nn.ModuleList(layers)
    net.fc = nn.Linear(ch[-1], cfg.num_classes)


def _run(net: nn.Module, x: Tensor, arch: Arch) -> Tensor:
    x = net.layers[0](x)
    for i in range(1, len(net.layers)):
        if arch[i - 1]:
            x = F.max_pool2d(x, kernel_size=2)
        x = net.layers[i](x)
    x = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
    return net.fc(x)


class PoolingSupernet(Supernet):
    space_name = SPACE

    def __init__(self, cfg: NetConfig):
        super().__init__(cfg, N_CHOICES)
        _build(self, cfg)

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        return _run(self, x, self.check_arch(arch))

    # Every pooling architecture uses every weight; the authors' Figure 2 looks at early layers.
    default_feature_set = "early"

    def _layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(f"layers.{i}", self.layers[i]) for i in range(1, len(self.layers))]

    def feature_sets(self) -> dict[str, list[str]]:
        """As Supernet.feature_sets; here "early" is the stem and blocks 1-3 (the layers at the
        first resolution of the usual ResNet20, as in the authors' per-tensor figures)."""
        sets = super().feature_sets()
        sets["early"] = [n for n in sets["all"] if n.startswith(("layers.0.", "layers.1.",
                                                                 "layers.2.", "layers.3."))]
        return sets


class PoolingNet(nn.Module):
    """Stand-alone pooling-space network of one architecture."""

    def __init__(self, arch: Arch, cfg: NetConfig | None = None):
        super().__init__()
        cfg = cfg or NetConfig()
        self.arch = check_arch(arch, N_CHOICES, SPACE)
        self.cfg = cfg
        _build(self, cfg)

    def forward(self, x: Tensor) -> Tensor:
        return _run(self, x, self.arch)


NETS.add(SPACE, NetBuilder(PoolingSupernet, PoolingNet))
