"""MobileNetV2-like ImageNet space: 21 searchable blocks with 13 choices each.

Choice 0 is identity; 1..12 are inverted residuals in the order
`for expand in (3, 6): for kernel in (3, 5, 7): for se in (False, True)`.
Stem 3x3 conv 32 + BN + ReLU (stride 2 at input_size >= 128, 1 on 28x28 / 32x32 inputs, see
NetConfig.stem_stride); a fixed MB1_K3 block to 16; searchable stages (channels, layers, stride)
= (32,4,2), (40,4,2), (80,4,2), (96,4,1), (192,4,2), (320,1,1); head 1x1 conv 1280 + BN + ReLU,
global average pool, linear.

Conventions the space's description leaves open (judgement calls, kept in one place):
- identity at a block that changes the shape (the first block of every stage here: a stride 2 or
  a channel change) is a 1x1 conv with that stride + BN, the NAS-Bench-Macro convention; elsewhere
  it is the plain identity;
- activation ReLU (MobileNetV2), residual when stride 1 and in == out channels;
- SE sits after the depthwise conv: global pool, 1x1 conv to max(1, int(block_in * se_ratio))
  channels (with bias), ReLU, 1x1 conv back (with bias), sigmoid gate (EfficientNet convention,
  se_ratio 0.25 of the block's input channels);
- no dropout before the classifier (a training option, not part of the network).
"""

from __future__ import annotations

import itertools

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
    mobilenet_default_stem_stride,
    norm_factory,
    scale_channels,
    stem_stride,
)

SPACE = "mobilenet"
STEM_CHANNELS = 32
FIRST_CHANNELS = 16
STAGES = ((32, 4, 2), (40, 4, 2), (80, 4, 2), (96, 4, 1), (192, 4, 2), (320, 1, 1))
HEAD_CHANNELS = 1280
# (expand, kernel, se) of choices 1..12; choice 0 is identity.
BLOCKS = tuple(itertools.product((3, 6), (3, 5, 7), (False, True)))
OPS = ("identity",) + tuple(f"mb{e}_k{k}{'_se' if se else ''}" for e, k, se in BLOCKS)
N_POSITIONS = sum(n for _, n, _ in STAGES)
N_CHOICES = (len(OPS),) * N_POSITIONS
DEFAULT_AFFINE = True
DEFAULT_TRACK = True


def make_op(choice: int, inp: int, oup: int, stride: int, norm: Norm, cfg: NetConfig) -> nn.Module:
    if choice == 0:
        return Shortcut(inp, oup, stride, norm)
    if not 1 <= choice <= len(BLOCKS):
        raise ValueError(f"mobilenet has no choice {choice}")
    expand, kernel, se = BLOCKS[choice - 1]
    squeeze = max(1, int(inp * cfg.se_ratio)) if se else None
    return InvertedResidual(inp, oup, stride, expand, kernel, norm, se_squeeze=squeeze)


def _build(net: nn.Module, cfg: NetConfig, arch: Arch | None) -> None:
    norm = norm_factory(cfg, DEFAULT_AFFINE, DEFAULT_TRACK)
    c0 = scale_channels(STEM_CHANNELS, cfg, 8)
    s = stem_stride(cfg, mobilenet_default_stem_stride(cfg))
    net.stem = conv_bn(cfg.in_channels, c0, 3, s, norm)
    c = scale_channels(FIRST_CHANNELS, cfg, 8)
    net.first_block = InvertedResidual(c0, c, 1, expand=1, kernel=3, norm=norm)
    blocks: list[nn.Module] = []
    pos = 0
    for channels, n_layers, stage_stride in STAGES:
        oup = scale_channels(channels, cfg, 8)
        for i in range(n_layers):
            inp, stride = (c, stage_stride) if i == 0 else (oup, 1)
            if arch is None:
                ops = [make_op(j, inp, oup, stride, norm, cfg) for j in range(len(OPS))]
                blocks.append(Choice(pos, ops))
            else:
                blocks.append(make_op(arch[pos], inp, oup, stride, norm, cfg))
            pos += 1
        c = oup
    net.blocks = nn.ModuleList(blocks)
    head = scale_channels(HEAD_CHANNELS, cfg, 8)
    net.head = conv_bn(c, head, 1, 1, norm)
    net.classifier = nn.Linear(head, cfg.num_classes)


def _run(net: nn.Module, x: Tensor, arch: Arch | None) -> Tensor:
    x = net.first_block(net.stem(x))
    for block in net.blocks:
        x = call(block, x, arch)
    x = net.head(x)
    x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
    return net.classifier(x)


class MobileNetSupernet(BuiltSupernet):
    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)

    def _layer_modules(self) -> list[tuple[str, nn.Module]]:
        return [(f"blocks.{i}", m) for i, m in enumerate(self.blocks)]


class MobileNet(BuiltNet):
    """Stand-alone network of one mobilenet-space architecture."""

    space_name, choices = SPACE, N_CHOICES
    build, run = staticmethod(_build), staticmethod(_run)


NETS.add(SPACE, NetBuilder(MobileNetSupernet, MobileNet))
