"""Pieces shared by every space's supernet and stand-alone network.

A supernet holds, at each searchable position, a `Choice` of candidate ops. Its forward takes an
architecture (a tuple of ints, one choice index per position, as in `harness.spaces`) and runs only
the chosen candidate at each position, so a supernet step costs what a stand-alone step costs and
parameters off the path receive no gradient at all (`p.grad is None`).

The stand-alone network of an architecture is built from the same op classes under the same module
names, with the chosen op in place of the `Choice`. A supernet parameter named
`features.3.candidates.2.conv.0.weight` is therefore the stand-alone parameter
`features.3.conv.0.weight`, and `standalone.load_state_dict(supernet.path_state_dict(arch))`
works with `strict=True`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from harness.errors import ArchKeyError
from harness.registry import Registry

# The same alias as harness.spaces.base.Arch (not imported, to keep nets independent of spaces).
Arch = tuple[int, ...]

Norm = Callable[[int], nn.BatchNorm2d]


@dataclass(frozen=True)
class NetConfig:
    """Options of a space's networks; the defaults reproduce the published spaces at CIFAR size.

    width_mult scales every channel count (rounded to a multiple of 8 for mobilenet and nb-macro,
    to an int of at least 4 for pooling and nb201); 1.0 gives the published widths exactly.
    bn_affine / bn_track_running_stats: None = the space's default (False / False for pooling, as
    in the authors' supernets; True / True for the others). stem_stride: None = the space's
    default (mobilenet: 2 at input_size >= 128, 1 below; 1 for the CIFAR spaces).
    se_ratio: squeeze-and-excitation reduction (mobilenet), relative to the block input channels.
    """

    in_channels: int = 3
    num_classes: int = 10
    input_size: int = 32
    width_mult: float = 1.0
    bn_affine: bool | None = None
    bn_track_running_stats: bool | None = None
    se_ratio: float = 0.25
    stem_stride: int | None = None
    cells_per_stage: int | None = None  # nb201: cells per stack (None = the published N=5)
    # "batch": BatchNorm (the published spaces); "none": no normalisation, so a step's gradient
    # does not depend on how the batch is split (exactness tests of data-parallel training).
    norm: str = "batch"

    def __post_init__(self) -> None:
        if self.in_channels < 1 or self.num_classes < 1 or self.input_size < 1:
            raise ValueError(f"NetConfig sizes must be positive: {self}")
        if not self.width_mult > 0:
            raise ValueError(f"NetConfig.width_mult must be > 0, got {self.width_mult}")
        if not 0 < self.se_ratio <= 1:
            raise ValueError(f"NetConfig.se_ratio must be in (0, 1], got {self.se_ratio}")
        if self.cells_per_stage is not None and self.cells_per_stage < 1:
            raise ValueError(f"NetConfig.cells_per_stage must be >= 1, got {self.cells_per_stage}")
        if self.stem_stride is not None and self.stem_stride < 1:
            raise ValueError(f"NetConfig.stem_stride must be >= 1, got {self.stem_stride}")
        if self.norm not in ("batch", "none"):
            raise ValueError(f"NetConfig.norm must be 'batch' or 'none', got {self.norm!r}")


def make_divisible(value: float, divisor: int = 8) -> int:
    """Nearest multiple of `divisor` (at least `divisor`, never 10% below `value`), as MobileNetV2."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def scale_channels(channels: int, cfg: NetConfig, divisor: int | None = None) -> int:
    """`channels` scaled by cfg.width_mult; unchanged at 1.0."""
    if cfg.width_mult == 1.0:
        return channels
    if divisor:
        return make_divisible(channels * cfg.width_mult, divisor)
    return max(4, int(round(channels * cfg.width_mult)))


def bn(channels: int, cfg: NetConfig, default_affine: bool, default_track: bool) -> nn.BatchNorm2d:
    """BatchNorm2d with the config's affine / running-statistics choice (None = the default);
    an identity when the config's norm is "none"."""
    if cfg.norm == "none":
        return nn.Identity()
    affine = default_affine if cfg.bn_affine is None else cfg.bn_affine
    track = default_track if cfg.bn_track_running_stats is None else cfg.bn_track_running_stats
    return nn.BatchNorm2d(channels, affine=affine, track_running_stats=track)


def norm_factory(cfg: NetConfig, default_affine: bool, default_track: bool) -> Norm:
    """`bn` with the config and the space's defaults bound: channels -> BatchNorm2d."""
    return functools.partial(
        bn, cfg=cfg, default_affine=default_affine, default_track=default_track
    )


def stem_stride(cfg: NetConfig, default: int) -> int:
    """cfg.stem_stride, or the space's default when None."""
    return default if cfg.stem_stride is None else cfg.stem_stride


def mobilenet_default_stem_stride(cfg: NetConfig) -> int:
    """2 at ImageNet-like sizes (input_size >= 128), 1 on small inputs (28x28, 32x32)."""
    return 2 if cfg.input_size >= 128 else 1


def check_arch(arch: Sequence[int], n_choices: Sequence[int], space: str) -> Arch:
    """The architecture as a tuple of Python ints; ArchKeyError when it does not fit the space."""
    try:
        out = tuple(int(a) for a in arch)
    except (TypeError, ValueError):
        raise ArchKeyError(
            f"{space} architecture must be a sequence of ints, got {arch!r}"
        ) from None
    if len(out) != len(n_choices):
        raise ArchKeyError(
            f"{space} architecture needs {len(n_choices)} choice indices, got {len(out)}: {out}"
        )
    for pos, (a, n) in enumerate(zip(out, n_choices)):
        if not 0 <= a < n:
            raise ArchKeyError(
                f"{space} architecture {out}: choice {a} at position {pos} is not in 0..{n - 1}"
            )
    return out


# ----------------------------------------------------------------------------- choices and supernet


class Choice(nn.Module):
    """The candidate ops of one searchable position; only the chosen one runs."""

    def __init__(self, position: int, candidates: Sequence[nn.Module]):
        super().__init__()
        self.position = position
        self.candidates = nn.ModuleList(candidates)

    def chosen(self, arch: Arch) -> nn.Module:
        return self.candidates[arch[self.position]]

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        return self.chosen(arch)(x)


def call(module: nn.Module, x: Tensor, arch: Arch | None) -> Tensor:
    """Run a position's module: a Choice (supernet, needs arch) or a plain op (stand-alone)."""
    if isinstance(module, Choice):
        return module(x, arch)
    return module(x)


def _has_choice(module: nn.Module) -> bool:
    return any(isinstance(m, Choice) for m in module.modules())


def _path_modules(module: nn.Module, prefix: str, arch: Arch) -> Iterator[tuple[str, nn.Module]]:
    if isinstance(module, Choice):
        yield from _path_modules(module.chosen(arch), prefix, arch)
    elif not _has_choice(module):
        yield prefix, module
    else:
        direct = list(module.named_parameters(recurse=False)) + list(
            module.named_buffers(recurse=False)
        )
        if direct:  # containers of choices hold no tensors of their own in these nets
            raise TypeError(f"module {prefix!r} holds tensors beside its choices")
        for name, child in module.named_children():
            yield from _path_modules(child, f"{prefix}{name}.", arch)


class Supernet(nn.Module):
    """A weight-sharing supernet: `forward(x, arch)` runs the one path `arch` selects.

    Subclasses build their modules in __init__ and implement `forward` and `_layer_modules`.
    """

    space_name: str = ""

    def __init__(self, cfg: NetConfig, n_choices: Sequence[int]):
        super().__init__()
        self.cfg = cfg
        self.n_choices: tuple[int, ...] = tuple(n_choices)

    @property
    def n_positions(self) -> int:
        return len(self.n_choices)

    def check_arch(self, arch: Sequence[int]) -> Arch:
        return check_arch(arch, self.n_choices, self.space_name)

    def forward(self, x: Tensor, arch: Arch) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def path_modules(self, arch: Sequence[int]) -> list[tuple[str, nn.Module]]:
        """(stand-alone name prefix, supernet module) pairs that together make up the path."""
        return list(_path_modules(self, "", self.check_arch(arch)))

    def path_state_dict(self, arch: Sequence[int]) -> dict[str, Tensor]:
        """The path's parameters and buffers under the stand-alone network's state_dict keys.

        Values are detached tensors sharing storage with the supernet (load_state_dict copies).
        """
        out: dict[str, Tensor] = {}
        for prefix, module in self.path_modules(arch):
            out.update(module.state_dict(prefix=prefix))
        return out

    def path_named_parameters(self, arch: Sequence[int]) -> list[tuple[str, nn.Parameter]]:
        """The path's shared parameters, named as in the stand-alone network."""
        out: list[tuple[str, nn.Parameter]] = []
        seen: set[int] = set()
        for prefix, module in self.path_modules(arch):
            for name, p in module.named_parameters():
                if id(p) not in seen:
                    seen.add(id(p))
                    out.append((prefix + name, p))
        return out

    def path_parameters(self, arch: Sequence[int]) -> list[nn.Parameter]:
        """The shared parameters the path uses (the only ones a path's backward gives a grad)."""
        return [p for _, p in self.path_named_parameters(arch)]

    def _layer_modules(self) -> list[tuple[str, nn.Module]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def layer_groups(self) -> list[tuple[str, list[nn.Parameter]]]:
        """Shared parameters of each searchable layer position (all its candidates), forward order."""
        return [(name, list(module.parameters())) for name, module in self._layer_modules()]

    # ------------------------------------------------------------------ weight tensors

    # The feature set density samplers use unless told otherwise (see `feature_sets`).
    default_feature_set: str = "shared"

    def weight_tensors(self) -> list[tuple[str, nn.Parameter]]:
        """Every conv and linear weight (ndim >= 2) by its parameter name, in forward order.

        These are the "layers" of the paper's gradient analysis: one tensor, one layer (BN scales
        and biases are left out, as in the authors' per-tensor figures).
        """
        return [(name, p) for name, p in self.named_parameters() if p.dim() >= 2]

    def candidate_tensor_names(self) -> set[str]:
        """Weight tensors inside a Choice: only the paths that pick that op use them."""
        inside: set[str] = set()
        for prefix, module in self.named_modules():
            if isinstance(module, Choice):
                inside.update(f"{prefix}.{name}" for name, p in module.named_parameters()
                              if p.dim() >= 2)
        return inside

    def feature_sets(self) -> dict[str, list[str]]:
        """Named sets of weight tensors whose gradients describe an architecture.

        shared  every tensor that every architecture uses (outside all Choices): the density
                then measures gradient direction, not which ops were picked
        early   the shared tensors before the first searchable position (the stem and any
                fixed block after it)
        groups3 every tensor of the first three searchable layer groups, candidates included
                (two paths with different ops there have gradients on disjoint coordinates, so
                this reading is close to a Hamming count of the first three positions)
        all     every weight tensor
        """
        tensors = [name for name, _ in self.weight_tensors()]
        candidates = self.candidate_tensor_names()
        shared = [n for n in tensors if n not in candidates]
        first_candidate = next((i for i, n in enumerate(tensors) if n in candidates), len(tensors))
        early = [n for n in tensors[:first_candidate] if n not in candidates]
        group_prefixes = tuple(f"{name}." for name, _ in self._layer_modules()[:3])
        groups3 = [n for n in tensors if n.startswith(group_prefixes)]
        return {"shared": shared, "early": early, "groups3": groups3, "all": tensors}


# ----------------------------------------------------------------------------- shared ops


def conv_bn(
    inp: int, oup: int, kernel: int, stride: int, norm: Norm, relu: bool = True
) -> nn.Sequential:
    """Conv (no bias, 'same' padding) + BN (+ ReLU)."""
    layers: list[nn.Module] = [
        nn.Conv2d(inp, oup, kernel, stride, kernel // 2, bias=False),
        norm(oup),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


class Shortcut(nn.Module):
    """The 'identity' choice: x itself, or a 1x1 conv (with the stride) + BN when the shape changes.

    This is NAS-Bench-Macro's convention (its `Identity` op), reused for the mobilenet space.
    """

    def __init__(self, inp: int, oup: int, stride: int, norm: Norm):
        super().__init__()
        if stride != 1 or inp != oup:
            self.downsample: nn.Module | None = nn.Sequential(
                nn.Conv2d(inp, oup, kernel_size=1, stride=stride, bias=False), norm(oup)
            )
        else:
            self.downsample = None

    def forward(self, x: Tensor) -> Tensor:
        return x if self.downsample is None else self.downsample(x)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation on the expanded features: pool, 1x1 reduce, ReLU, 1x1 expand, sigmoid."""

    def __init__(self, channels: int, squeeze: int):
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1, bias=True)
        self.act = nn.ReLU(inplace=True)
        self.expand = nn.Conv2d(squeeze, channels, 1, bias=True)

    def forward(self, x: Tensor) -> Tensor:
        s = x.mean((2, 3), keepdim=True)
        s = self.expand(self.act(self.reduce(s)))
        return x * torch.sigmoid(s)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand-BN-ReLU (skipped at expansion 1), kxk depthwise-BN-ReLU,
    [SE], 1x1 linear projection-BN; residual when stride 1 and in == out channels.

    The layout (module `conv`, Sequential indices) is NAS-Bench-Macro's, whose stand-alone
    parameter counts it reproduces exactly.
    """

    def __init__(
        self,
        inp: int,
        oup: int,
        stride: int,
        expand: int,
        kernel: int,
        norm: Norm,
        se_squeeze: int | None = None,
    ):
        super().__init__()
        hidden = round(inp * expand)
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [
                nn.Conv2d(inp, hidden, 1, 1, 0, bias=False),
                norm(hidden),
                nn.ReLU(inplace=True),
            ]
        layers += [
            nn.Conv2d(hidden, hidden, kernel, stride, kernel // 2, groups=hidden, bias=False),
            norm(hidden),
            nn.ReLU(inplace=True),
        ]
        if se_squeeze:
            layers.append(SqueezeExcite(hidden, se_squeeze))
        layers += [nn.Conv2d(hidden, oup, 1, 1, 0, bias=False), norm(oup)]
        self.conv = nn.Sequential(*layers)
        self.use_shortcut = stride == 1 and inp == oup

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv(x)
        return out + x if self.use_shortcut else out


# ----------------------------------------------------------------------------- registry


class BuiltSupernet(Supernet):
    """A supernet made by the space's `build(net, cfg, arch)` and run by `run(net, x, arch)`.

    The same two functions make the stand-alone network (`BuiltNet`): with `arch=None` build adds
    every candidate op, with an arch only the chosen ones; run then takes the arch of the path, or
    None for a stand-alone network whose ops are already fixed. Subclasses set space_name, choices,
    build and run (as staticmethods) and `_layer_modules`.
    """

    choices: tuple[int, ...] = ()

    def __init__(self, cfg: NetConfig):
        super().__init__(cfg, self.choices)
        type(self).build(self, cfg, None)

    def forward(self, x: Tensor, arch: Arch) -> Tensor:
        return type(self).run(self, x, self.check_arch(arch))


class BuiltNet(nn.Module):
    """The stand-alone network of one architecture, from the same build/run as its BuiltSupernet."""

    space_name: str = ""
    choices: tuple[int, ...] = ()

    def __init__(self, arch: Arch, cfg: NetConfig | None = None):
        super().__init__()
        cfg = cfg or NetConfig()
        self.arch = check_arch(arch, self.choices, self.space_name)
        self.cfg = cfg
        type(self).build(self, cfg, self.arch)

    def forward(self, x: Tensor) -> Tensor:
        return type(self).run(self, x, None)


@dataclass(frozen=True)
class NetBuilder:
    """How to build one space's supernet and stand-alone networks."""

    supernet: Callable[[NetConfig], Supernet]
    standalone: Callable[[Arch, NetConfig], nn.Module]
    # The space's benchmark's FLOP rule (harness.nets.cost): whether a layer's bias adds count.
    # NAS-Bench-201 counts the classifier's; NAS-Bench-Macro's published flops do not.
    flops_count_bias: bool = True

    def build_supernet(self, cfg: NetConfig | None = None) -> Supernet:
        return self.supernet(cfg or NetConfig())

    def build_standalone(self, arch: Sequence[int], cfg: NetConfig | None = None) -> nn.Module:
        return self.standalone(tuple(arch), cfg or NetConfig())


NETS: Registry[NetBuilder] = Registry("network space", providers="harness.nets")
