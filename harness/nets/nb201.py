"""NAS-Bench-201: one 4-node cell (6 edges, 5 ops each) repeated in a fixed macro skeleton.

Edges in arch order: (1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2); ops {0 none, 1 skip_connect,
2 nor_conv_1x1, 3 nor_conv_3x3, 4 avg_pool_3x3}. Network as in the official code: stem 3x3 conv
C=16 + BN; three stacks of N=5 cells (16/32/64 channels) joined by stride-2 ResNet basic blocks
(ReLU-Conv-BN 3x3 stride 2, ReLU-Conv-BN 3x3, shortcut 2x2 avg-pool + 1x1 conv); BN + ReLU; global
average pool; linear. Module names follow the official TinyNetwork / InferCell (stem, cells,
lastact, classifier; `cells.i.layers.e` per edge). Convs have no bias (the official code uses
bias=False with affine BN; with a non-affine BN option a bias would be cancelled by BN anyway).
At width 1.0 and 10 classes the all-nor_conv_3x3 cell gives 1,531,546 parameters, the published
maximum of the space (1.53 MB).

In the supernet every edge of every cell has its own candidates (the cell's genotype is shared by
the 15 cells, the weights are not). The searchable layer groups are the 15 cells.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from harness.nets.common import (
    NETS,
    Arch,
    BuiltNet,
    BuiltSupernet,
    Choice,
    NetBuilder,
    NetConfig,
    Norm,
    call,
    norm_factory,
    scale_channels,
    stem_stride,
)

SPACE = "nb201"
OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2))  # (to, from), arch order
N_CHOICES = (len(OPS),) * len(EDGES)
C = 16
N = 5
DEFAULT_AFFINE = True
DEFAULT_TRACK = True


class ReLUConvBN(nn.Module):
    def __init__(self, inp: int, oup: int, kernel: int, stride: int, padding: int, norm: Norm):
        super().__init__()
        self.op = nn.Sequential(
            nn.ReLU(inplace=False),
            nn.Conv2d(inp, oup, kernel, stride=stride, padding=padding, bias=False),
            norm(oup),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.op(x)


class Zero(nn.Module):
    """The 'none' op: zeros shaped like the input (x * 0, as the official code)."""

    def forward(self, x: Tensor) -> Tensor:
        return x.mul(0.0)


def make_op(choice: int, channels: int, norm: Norm) -> nn.Module:
    if choice == 0:
        return Zero()
    if choice == 1:
        return nn.Identity()
    if choice == 2:
        return ReLUConvBN(channels, channels, 1, 1, 0, norm)
    if choice == 3:
        return ReLUConvBN(channels, channels, 3, 1, 1, norm)
    if choice == 4:
        return nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)
    raise ValueError(f"nb201 has no choice {choice}")


class Cell(nn.Module):
    """4-node cell; node i is the sum of its incoming edges; the output is node 3."""

    def __init__(self, channels: int, norm: Norm, arch: Arch | None):
        super().__init__()
        if arch is None:
            layers = [
                Choice(e, [make_op(j, channels, norm) for j in range(len(OPS))])
                for e in range(len(EDGES))
            ]
        else:
            layers = [make_op(arch[e], channels, norm) for e in range(len(EDGES))]
        self.layers = nn.ModuleList(layers)

    def forward(self, x: Tensor, arch: Arch | None = None) -> Tensor:
        nodes = [x]
        for to in (1, 2, 3):
            total: Tensor | None = None
            for e, (dst, src) in enumerate(EDGES):
                if dst == to:
                    h = call(self.layers[e], nodes[src], arch)
                    total = h if total is None else total + h
            assert total is not None
            nodes.append(total)
        return nodes[-1]


class ResNetBasicblock(nn.Module):
    """The stride-2 reduction block between stacks."""

    def __init__(self, inp: int, oup: int, norm: Norm):
        super().__init__()
        self.conv_a = ReLUConvBN(inp, oup, 3, 2, 1, norm)
        self.conv_b = ReLUConvBN(oup, oup, 3, 1, 1, norm)
        self.downsample = nn.Sequential(
            nn.AvgPool2d(kernel_size=2, stride=2, padding=0),
            nn.Conv2d(inp, oup, kernel_size=1, stride=1, padding=0, bias=False),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.downsample(x) + self.conv_b(self.conv_a(x))


def _build(net: nn.Module, cfg: NetConfig, arch: Arch | None) -> None:
    norm = norm_factory(cfg, DEFAULT_AFFINE, DEFAULT_TRACK)
    c = scale_channels(C, cfg)
    s = stem_stride(cfg, 1)
    net.stem = nn.Sequential(
        nn.Conv2d(cfg.in_channels, c, kernel_size=3, stride=s, padding=1, bias=False), norm(c)
    )
    cells: list[nn.Module] = []
    for k in range(3):
        ck = scale_channels(C * 2**k, cfg)
        if k > 0:
            cells.append(ResNetBasicblock(c, ck, norm))
        cells += [Cell(ck, norm, arch) for _ in range(cfg.cells_per_stage or N)]
        c = ck
    net.cells = nn.ModuleList(cells)
    net.lastact = nn.Sequential(norm(c), nn.ReLU(inplace=True))
    net.classifier = nn.Linear(c, cfg.num_classes)


def _run(net: nn.Module, x: Tensor, arch: Arch | None) -> Tensor:
    x = net.stem(x)
    for cell in net.cells:
        x = cell(x, arch) if isinstance(cell, Cell) else cell(x)
    x = net.lastact(x)
    x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
    return net.classifier(x)


class NB201Supernet(BuiltSupernet):
    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)

    def _layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(f"cells.{i}", m) for i, m in enumerate(self.cells) if isinstance(m, Cell)]


class NB201Net(BuiltNet):
    """Stand-alone NAS-Bench-201 network of one cell."""

    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)


NETS.add(SPACE, NetBuilder(NB201Supernet, NB201Net))
