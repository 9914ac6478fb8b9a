"""One architecture's facts: its key forms, official index, equivalence class, params and FLOPs
(`nas-harness space show SPACE --arch KEY`)."""

from __future__ import annotations

from harness.errors import HarnessError, did_you_mean
from harness.nets.common import NetConfig
from harness.nets.cost import network_cost
from harness.spaces.base import SearchSpace


def default_dataset(space: str) -> str:
    """The dataset of the space's published recipe (the paper profile)."""
    from harness.profiles import get_profile

    return get_profile("paper").run_overrides(space)["dataset"]


def architecture_facts(space: SearchSpace, key: str, dataset: str | None = None,
                       max_members: int = 20) -> dict:
    """Keys, official index, equivalence class and cost of the architecture `key` names."""
    from harness.data.datasets import DATASETS
    from harness.spaces.formats import formats_of

    arch = space.parse(key)
    dataset = dataset or default_dataset(space.name)
    if dataset not in DATASETS:
        raise HarnessError(f"unknown dataset '{dataset}'{did_you_mean(dataset, DATASETS)}; known: "
                           f"{', '.join(DATASETS)}")
    info = DATASETS.get(dataset)
    members = space.equivalence_class(arch)
    rep = space.canonical(arch)
    first = space.first_member(arch)
    cfg = NetConfig(in_channels=info.in_channels, num_classes=info.num_classes,
                    input_size=info.size)
    cost = network_cost(space.name, arch, cfg)
    return {
        "space": space.name,
        "key": space.key(arch),
        "forms": space.key_forms(arch),
        "key_formats": {f.name: f.write(arch) for f in formats_of(space.name)},
        "official_index": space.official_index(arch),
        "class": {
            "size": len(members),
            "representative": space.key(rep),
            "first": space.key(first),
            "first_official_index": space.official_index(first),
            "members": [space.key(m) for m in members[:max_members]],
            "members_listed": min(len(members), max_members),
            "enumerated": space.enumerable,
        },
        "cost": {"dataset": dataset, "in_channels": info.in_channels,
                 "input_size": info.size, "num_classes": info.num_classes,
                 "params": cost.params, "flops": cost.flops,
                 "params_m": round(cost.params / 1e6, 6), "flops_m": round(cost.flops / 1e6, 6),
                 "flops_rule": "conv + linear multiply-accumulates"
                 + (" + bias adds" if _counts_bias(space.name) else "") + "; no pooling terms"},
    }


def _counts_bias(space: str) -> bool:
    from harness.nets.common import NETS

    return NETS.get(space).flops_count_bias
