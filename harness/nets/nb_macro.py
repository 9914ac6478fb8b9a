"""NAS-Bench-Macro: 8 searchable layers, choices {0: identity, 1: MB3_K3, 2: MB6_K5}.

Stem 3x3 conv 32 + BN + ReLU (stride 1 at CIFAR size); stages of (2, 3, 3) layers, the first layer
of each stage stride 2 and doubling the channels 32 -> 64 -> 128 -> 256; an identity at a stride-2
slot is a 1x1 stride-2 conv + BN (no ReLU); inverted residuals are 1x1 expand-BN-ReLU, kxk
depthwise-BN-ReLU, 1x1 linear project-BN, with a residual when shapes match; head 1x1 conv 1280 +
BN + ReLU, global average pool, linear (with bias). Every conv is bias-free; BN is affine with
running statistics. Module names follow the benchmark's public code (stem, features, out,
classifier), and stand-alone parameter counts equal the `params` field of
nas-bench-macro_cifar10.json for every code (checked on all 6,561 codes at 3x32x32, 10 classes).
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
    InvertedResidual,
    NetBuilder,
    NetConfig,
    Norm,
    Shortcut,
    call,
    conv_bn,
    norm_factory,
    scale_channels,
    stem_stride,
)

SPACE = "nb-macro"
STAGES = (2, 3, 3)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280
OPS = ("identity", "mb3_k3", "mb6_k5")
N_POSITIONS = sum(STAGES)
N_CHOICES = (len(OPS),) * N_POSITIONS
DEFAULT_AFFINE = True
DEFAULT_TRACK = True


def make_op(choice: int, inp: int, oup: int, stride: int, norm: Norm) -> nn.Module:
    if choice == 0:
        return Shortcut(inp, oup, stride, norm)
    if choice == 1:
        return InvertedResidual(inp, oup, stride, expand=3, kernel=3, norm=norm)
    if choice == 2:
        return InvertedResidual(inp, oup, stride, expand=6, kernel=5, norm=norm)
    raise ValueError(f"nb-macro has no choice {choice}")


def _build(net: nn.Module, cfg: NetConfig, arch: Arch | None) -> None:
    """Supernet modules when arch is None, the stand-alone network of arch otherwise."""
    norm = norm_factory(cfg, DEFAULT_AFFINE, DEFAULT_TRACK)
    c = scale_channels(STEM_CHANNELS, cfg, 8)
    net.stem = conv_bn(cfg.in_channels, c, 3, stem_stride(cfg, 1), norm)
    features: list[nn.Module] = []
    pos = 0
    for k, n_layers in enumerate(STAGES):
        oup = scale_channels(STEM_CHANNELS * 2 ** (k + 1), cfg, 8)
        for i in range(n_layers):
            inp, stride = (c, 2) if i == 0 else (oup, 1)
            if arch is None:
                ops = [make_op(j, inp, oup, stride, norm) for j in range(len(OPS))]
                features.append(Choice(pos, ops))
            else:
                features.append(make_op(arch[pos], inp, oup, stride, norm))
            pos += 1
        c = oup
    net.features = nn.ModuleList(features)
    head = scale_channels(HEAD_CHANNELS, cfg, 8)
    net.out = nn.Sequential(*conv_bn(c, head, 1, 1, norm), nn.AdaptiveAvgPool2d(1))
    net.classifier = nn.Linear(head, cfg.num_classes)


def _run(net: nn.Module, x: Tensor, arch: Arch | None) -> Tensor:
    x = net.stem(x)
    for layer in net.features:
        x = call(layer, x, arch)
    x = net.out(x)
    return net.classifier(torch.flatten(x, 1))


class NBMacroSupernet(BuiltSupernet):
    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)

    def _layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(f"features.{i}", m) for i, m in enumerate(self.features)]


class NBMacroNet(BuiltNet):
    """Stand-alone NAS-Bench-Macro network of one code."""

    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)


NETS.add(SPACE, NetBuilder(NBMacroSupernet, NBMacroNet, flops_count_bias=False))
