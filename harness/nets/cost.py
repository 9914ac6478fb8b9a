"""Parameters and FLOPs of a network, by NAS-Bench-201's counting rule.

FLOPs here are what NAS-Bench-201 (and NATS-Bench) report as "flops": multiply-accumulates of every
convolution and linear layer for one image (kernel_h * kernel_w * in_channels / groups *
out_channels per output position), plus one add per output of a layer with a bias (for the
NB-201 networks, only the classifier has one). Pooling, batch norm, activations and additions are
not counted. Parameters are every parameter of the module, batch-norm affine ones included. With
this rule the harness's NB-201 networks give exactly the official records' numbers, and its
NB-Macro networks the published JSON's, whose flops leave the classifier's bias adds out
(`NetBuilder.flops_count_bias`; tests).

`cost_table` turns a space whose positions are independent modules at fixed shapes (NB-201: one
op per edge, shared by the 15 cells) into a base cost plus one delta per (position, choice), so a
whole benchmark's costs are a sum over positions instead of one forward pass per network.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from harness.nets.common import NETS, Arch, NetConfig
from harness.spaces.costs import TABLE_SPECS, TABLES_FILE, CostTable, NetCost


def count_cost(net: nn.Module, in_channels: int, input_size: int,
               count_bias: bool = True) -> NetCost:
    """Parameters and FLOPs of `net` for one `in_channels` x `input_size`^2 image (`count_bias`:
    whether a bias's adds count, see NetBuilder.flops_count_bias)."""
    flops = 0

    def conv_hook(module: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        nonlocal flops
        positions = output.numel() // output.shape[0] // module.out_channels
        per_position = (module.kernel_size[0] * module.kernel_size[1]
                        * module.in_channels // module.groups * module.out_channels)
        flops += positions * per_position
        if count_bias and module.bias is not None:
            flops += positions * module.out_channels

    def linear_hook(module: nn.Linear, _inputs, output: torch.Tensor) -> None:
        nonlocal flops
        rows = output.numel() // output.shape[0] // module.out_features
        flops += rows * module.in_features * module.out_features
        if count_bias and module.bias is not None:
            flops += rows * module.out_features

    handles = []
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    was_training = net.training
    net.eval()
    try:
        with torch.no_grad():
            net(torch.zeros(1, in_channels, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
        net.train(was_training)
    return NetCost(params=sum(p.numel() for p in net.parameters()), flops=int(flops))


def network_cost(space: str, arch: Sequence[int], cfg: NetConfig) -> NetCost:
    """The cost of one stand-alone network of `space` for `cfg`'s input and classes."""
    builder = NETS.get(space)
    net = builder.build_standalone(tuple(arch), cfg)
    return count_cost(net, cfg.in_channels, cfg.input_size, builder.flops_count_bias)


def cost_table(space: str, choices: Sequence[int], cfg: NetConfig, base_choice: int = 0,
               check: Sequence[Arch] = ()) -> CostTable:
    """Base network (every position at `base_choice`) plus one delta per (position, choice), from
    1 + positions * (choices - 1) forward passes; raises ValueError if any arch in `check` is not
    the sum (the space's positions are not independent)."""
    base_arch = tuple([base_choice] * len(choices))
    base = network_cost(space, base_arch, cfg)
    width = max(choices)
    params_delta = np.zeros((len(choices), width), dtype=np.int64)
    flops_delta = np.zeros((len(choices), width), dtype=np.int64)
    for position, n in enumerate(choices):
        for choice in range(n):
            if choice == base_choice:
                continue
            arch = list(base_arch)
            arch[position] = choice
            cost = network_cost(space, arch, cfg)
            params_delta[position, choice] = cost.params - base.params
            flops_delta[position, choice] = cost.flops - base.flops
    table = CostTable(base, params_delta, flops_delta)
    for arch in check:
        direct = network_cost(space, arch, cfg)
        params, flops = table.costs(np.array([arch]))
        if (int(params[0]), int(flops[0])) != (direct.params, direct.flops):
            raise ValueError(f"{space}: costs are not additive over positions at {arch}")
    return table


def compute_tables() -> dict:
    """Every table in TABLE_SPECS, from the builders (what TABLES_FILE holds)."""
    out: dict = {}
    for (space_name, dataset), (channels, size, classes) in TABLE_SPECS.items():
        builder = NETS.get(space_name)
        table = cost_table(space_name, list(builder.supernet.choices), NetConfig(in_channels=channels, input_size=size,
                                                             num_classes=classes))
        out.setdefault(space_name, {})[dataset] = {
            "in_channels": channels, "input_size": size, "num_classes": classes,
            "base": {"params": table.base.params, "flops": table.base.flops},
            "params_delta": table.params_delta.tolist(), "flops_delta": table.flops_delta.tolist()}
    return out


if __name__ == "__main__":  # regenerate TABLES_FILE: python -m harness.nets.cost
    from harness.io import atomic_write_json

    atomic_write_json(TABLES_FILE, compute_tables())
