"""Supernets and stand-alone networks (harness.nets): path equivalence, gradients, param counts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from harness.errors import ArchKeyError, UnknownNameError
from harness.nets import NETS, NetConfig, Supernet, build_standalone, build_supernet
from harness.nets.common import Shortcut

REPO_ROOT = Path(__file__).resolve().parents[1]

# Small configurations: tiny widths and inputs, except where a test is about exact sizes.
SMALL = {
    "pooling": (NetConfig(in_channels=1, width_mult=0.25, input_size=28), (1, 28, 28)),
    "nb-macro": (NetConfig(in_channels=1, width_mult=0.25, input_size=28), (1, 28, 28)),
    "nb201": (NetConfig(in_channels=1, width_mult=0.25, input_size=28), (1, 28, 28)),
    "mobilenet": (NetConfig(width_mult=0.1, input_size=32), (3, 32, 32)),
}


def pools(*layers: int) -> tuple[int, ...]:
    """Pooling-space arch with 2x2 max-pools before the given layers (1..9)."""
    return tuple(int(i in layers) for i in range(1, 10))


def code(text: str) -> tuple[int, ...]:
    return tuple(int(c) for c in text)


_rng = np.random.default_rng(0)
ARCHS = {
    "pooling": [pools(1, 2), pools(8, 9), pools(4, 7), pools(1, 9)],
    "nb-macro": [code("00000000"), code("22212220"), code("12012012"), code("11111111")],
    "nb201": [(0,) * 6, (3,) * 6, (3, 0, 3, 1, 0, 0), (4, 2, 1, 0, 3, 4), (1, 1, 1, 1, 1, 1)],
    "mobilenet": [(0,) * 21, (12,) * 21, tuple(int(a) for a in _rng.integers(0, 13, 21))],
}
CASES = [(space, arch) for space, archs in ARCHS.items() for arch in archs]
CASE_IDS = [f"{s}-{('.' if max(a) > 9 else '').join(map(str, a))}" for s, a in CASES]


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _randomize_norms(net: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN affine parameters and running statistics, so that copying them matters."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.copy_(1 + 0.2 * torch.randn(m.weight.shape, generator=g))
                    m.bias.copy_(0.2 * torch.randn(m.bias.shape, generator=g))
                if m.track_running_stats:
                    m.running_mean.copy_(0.1 * torch.randn(m.running_mean.shape, generator=g))
                    m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))


_supernets: dict[str, Supernet] = {}


def small_supernet(space: str) -> Supernet:
    """One double-precision supernet per space for the whole module (built once: saves time)."""
    if space not in _supernets:
        torch.manual_seed(0)
        net = build_supernet(space, SMALL[space][0]).double()
        _randomize_norms(net)
        _supernets[space] = net
    return _supernets[space]


def batch(space: str, n: int = 4, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *SMALL[space][1]), generator=g, dtype=torch.float64)


@pytest.mark.parametrize(("space", "arch"), CASES, ids=CASE_IDS)
def test_path_equals_standalone(space, arch):
    supernet = small_supernet(space)
    net = build_standalone(space, arch, SMALL[space][0]).double()
    state = supernet.path_state_dict(arch)
    assert set(state) == set(net.state_dict())
    net.load_state_dict(state, strict=True)
    x = batch(space)

    # path_parameters are exactly the stand-alone network's parameters.
    named = supernet.path_named_parameters(arch)
    assert [n for n, _ in named] == [n for n, _ in net.named_parameters()]
    assert [p.shape for p in supernet.path_parameters(arch)] == [p.shape for p in net.parameters()]

    with torch.no_grad():
        supernet.eval()
        net.eval()
        torch.testing.assert_close(supernet(x, arch), net(x), rtol=1e-9, atol=1e-9)

    # Train mode: BN uses batch statistics in both; outputs and gradients agree.
    supernet.train()
    net.train()
    supernet.zero_grad(set_to_none=True)
    y_super, y_net = supernet(x, arch), net(x)
    torch.testing.assert_close(y_super, y_net, rtol=1e-9, atol=1e-9)
    y_super.square().mean().backward()
    y_net.square().mean().backward()
    grads = dict(net.named_parameters())
    for name, p in named:
        torch.testing.assert_close(p.grad, grads[name].grad, rtol=1e-7, atol=1e-9)
    supernet.zero_grad(set_to_none=True)


@pytest.mark.parametrize("space", list(SMALL))
def test_off_path_parameters_get_no_gradient(space):
    supernet = small_supernet(space)
    supernet.train()
    x = batch(space, seed=2)
    for arch in ARCHS[space][:2]:
        supernet.zero_grad(set_to_none=True)
        supernet(x, arch).logsumexp(1).mean().backward()
        on_path = {id(p) for p in supernet.path_parameters(arch)}
        off = [n for n, p in supernet.named_parameters() if id(p) not in on_path]
        for name, p in supernet.named_parameters():
            if id(p) in on_path:
                assert p.grad is not None, f"{name} is on the path of {arch} but has no grad"
            else:
                assert p.grad is None, f"{name} is off the path of {arch} but got a grad"
        if space == "pooling":
            assert off == []  # every pooling architecture uses every weight
        else:
            assert off, "a supernet path should leave some candidates unused"
    supernet.zero_grad(set_to_none=True)


@pytest.mark.parametrize(
    ("space", "n_groups", "first"),
    [
        ("pooling", 9, "layers.1"),
        ("nb-macro", 8, "features.0"),
        ("nb201", 15, "cells.0"),
        ("mobilenet", 21, "blocks.0"),
    ],
)
def test_layer_groups(space, n_groups, first):
    supernet = small_supernet(space)
    groups = supernet.layer_groups()
    assert len(groups) == n_groups and groups[0][0] == first
    ids = [id(p) for _, params in groups for p in params]
    assert all(params for _, params in groups)
    assert len(ids) == len(set(ids))  # disjoint
    if space == "nb201":
        assert [name for name, _ in groups][5] == "cells.6"  # reduction blocks are not searchable


def test_channels_last_input():
    for space in SMALL:
        supernet = small_supernet(space).eval()
        arch = ARCHS[space][1]
        x = batch(space, n=2)
        with torch.no_grad():
            y = supernet(x, arch)
            y_cl = supernet(x.contiguous(memory_format=torch.channels_last), arch)
        torch.testing.assert_close(y_cl, y, rtol=1e-9, atol=1e-9)


# ----------------------------------------------------------------------------- exact sizes


def _nb_macro_json() -> dict:
    root = Path(
        os.environ.get("HARNESS_DATA_DIR") or REPO_ROOT.parent / "shared" / "benchmarks_data"
    )
    path = root / "nb_macro" / "nas-bench-macro_cifar10.json"
    if not path.is_file():
        message = (
            f"NAS-Bench-Macro JSON not found at {path}: set HARNESS_DATA_DIR or run "
            "`nas-harness gt fetch nb-macro`"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return json.loads(path.read_text())


def _n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_nb_macro_param_counts_match_published():
    table = _nb_macro_json()
    rng = np.random.default_rng(123)
    codes = ["00000000", "22212220", "11111111", "12012012", "22222222"]
    codes += ["".join(str(int(c)) for c in rng.integers(0, 3, 8)) for _ in range(20)]
    cfg = NetConfig(in_channels=3, num_classes=10, input_size=32)
    # Counting needs no storage: the meta device builds each full-size network in milliseconds.
    with torch.device("meta"):
        counts = {c: _n_params(build_standalone("nb-macro", code(c), cfg)) for c in codes}
    assert counts == {c: table[c]["params"] for c in codes}
    assert counts["00000000"] == 387882  # published minimum of the space


def test_nb_macro_real_network_runs_at_cifar_size():
    net = build_standalone("nb-macro", code("22212220"))
    assert _n_params(net) == 1985514
    with torch.no_grad():
        assert net.eval()(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_resnet20_param_count():
    # ResNet20 = pools before layers 4 and 7, non-affine BN (no BN parameters):
    #   stem 3*16*9                                     =     432
    #   layers 1-3: 3 * 2 * (16*16*9)                   =  13,824
    #   layer 4: 16*32*9 + 32*32*9 + 16*32 (projection) =  14,336
    #   layers 5-6: 2 * 2 * (32*32*9)                   =  36,864
    #   layer 7: 32*64*9 + 64*64*9 + 32*64 (projection) =  57,344
    #   layers 8-9: 2 * 2 * (64*64*9)                   = 147,456
    #   fc 64*10 + 10                                   =     650
    #   total                                           = 270,906  (~0.27M)
    net = build_standalone("pooling", pools(4, 7))
    assert _n_params(net) == 270906
    # Affine BN adds a weight and a bias per BN channel: stem 16, two BNs per block
    # 2 * (3*16 + 3*32 + 3*64) = 672, projections 32 + 64: 784 channels, 1,568 more parameters.
    affine = build_standalone("pooling", pools(4, 7), NetConfig(bn_affine=True))
    assert _n_params(affine) == 270906 + 2 * 784 == 272474


def test_nb201_param_counts():
    with torch.device("meta"):
        assert _n_params(build_standalone("nb201", (3,) * 6)) == 1531546  # space maximum, 1.53 MB
        assert _n_params(build_standalone("nb201", (0,) * 6)) == 73306  # space minimum, 0.07 MB


@pytest.mark.parametrize("space", ["pooling", "nb201"])
@pytest.mark.parametrize(("in_channels", "size"), [(1, 28), (3, 32)])
def test_input_channels_and_resolution(space, in_channels, size):
    cfg = NetConfig(in_channels=in_channels, input_size=size, width_mult=0.25, num_classes=7)
    arch = ARCHS[space][0]
    x = torch.randn(2, in_channels, size, size)
    supernet = build_supernet(space, cfg)
    net = build_standalone(space, arch, cfg)
    net.load_state_dict(supernet.path_state_dict(arch))
    with torch.no_grad():
        assert supernet.eval()(x, arch).shape == (2, 7)
        assert net.eval()(x).shape == (2, 7)


def test_mobilenet_stem_stride_and_identity_convention():
    with torch.device("meta"):
        big = build_standalone("mobilenet", (0,) * 21, NetConfig(num_classes=1000, input_size=224))
    small = build_standalone("mobilenet", (0,) * 21, NetConfig(width_mult=0.1, input_size=32))
    assert big.stem[0].stride == (2, 2) and small.stem[0].stride == (1, 1)
    forced = NetConfig(width_mult=0.1, input_size=32, stem_stride=2)
    assert build_standalone("mobilenet", (0,) * 21, forced).stem[0].stride == (2, 2)
    # Identity at the first block of every stage (a stride or channel change) is 1x1 conv + BN.
    firsts = {0, 4, 8, 12, 16, 20}
    for i, block in enumerate(big.blocks):
        assert isinstance(block, Shortcut)
        assert (block.downsample is not None) == (i in firsts)
    assert big.classifier.out_features == 1000 and big.head[0].out_channels == 1280
    with torch.no_grad():
        assert small.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_registry_and_arch_errors():
    assert NETS.names() == ["mobilenet", "nb-macro", "nb201", "pooling"]
    with pytest.raises(UnknownNameError, match="did you mean 'nb201'"):
        build_supernet("nb-201", NetConfig())
    supernet = small_supernet("nb201")
    with pytest.raises(ArchKeyError, match="needs 6"):
        supernet(batch("nb201"), (0, 1, 2))
    with pytest.raises(ArchKeyError, match="not in 0..4"):
        supernet.path_state_dict((0, 1, 2, 3, 4, 5))
    with pytest.raises(ArchKeyError):
        build_standalone("pooling", (2,) * 9)


def test_width_mult_rounding():
    from harness.nets.common import make_divisible, scale_channels

    assert [scale_channels(c, NetConfig()) for c in (16, 40, 1280)] == [16, 40, 1280]
    assert scale_channels(40, NetConfig(width_mult=0.5), 8) == make_divisible(20) == 24
    assert scale_channels(16, NetConfig(width_mult=0.1)) == 4


@pytest.mark.parametrize("space", list(SMALL))
def test_cpu_autocast_bfloat16_channels_last(space):
    # A CPU stand-in for the CUDA mixed-precision check below: no in-place op breaks autocast.
    supernet = build_supernet(space, SMALL[space][0]).to(memory_format=torch.channels_last)
    x = torch.randn((4, *SMALL[space][1])).contiguous(memory_format=torch.channels_last)
    arch = ARCHS[space][1]
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = supernet(x, arch)
    y.float().logsumexp(1).mean().backward()
    assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all()
    assert all(p.grad is not None for p in supernet.path_parameters(arch))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_autocast_channels_last():
    for space in SMALL:
        cfg = SMALL[space][0]
        supernet = build_supernet(space, cfg).cuda().to(memory_format=torch.channels_last)
        x = torch.randn((8, *SMALL[space][1]), device="cuda").contiguous(
            memory_format=torch.channels_last
        )
        for arch in ARCHS[space]:
            supernet.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                y = supernet(x, arch)
            y.float().logsumexp(1).mean().backward()
            assert torch.isfinite(y.float()).all()
            assert all(p.grad is not None for p in supernet.path_parameters(arch))
