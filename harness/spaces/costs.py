"""Stored parameter and FLOP tables of a space's networks (torch-free: a benchmark load reads them).

`CostTable`: cost(arch) = base + sum over positions of delta[position][choice], exact for spaces whose
positions are independent modules at fixed shapes (NB-201). The tables in `cost_tables.json` are
computed from the harness's own builders by `harness.nets.cost.compute_tables` (regenerate with
`python -m harness.nets.cost`; a test recomputes and compares them). FLOPs follow NB-201's rule
(see harness.nets.cost).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class NetCost:
    params: int
    flops: int  # multiply-accumulates, NB-201's rule (module docstring)

    def to_dict(self) -> dict:
        return {"params": self.params, "flops": self.flops,
                "params_m": self.params / 1e6, "flops_m": self.flops / 1e6}


@dataclass(frozen=True)
class CostTable:
    """cost(arch) = base + sum over positions of delta[position][choice] (exact for spaces whose
    positions are independent modules at fixed shapes; `cost_table` checks it on a sample)."""

    base: NetCost
    params_delta: np.ndarray  # (positions, choices)
    flops_delta: np.ndarray

    def costs(self, archs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(params, flops) of every row of `archs` (an int array, one row per architecture)."""
        archs = np.asarray(archs, dtype=np.int64)
        cols = np.arange(archs.shape[1])
        params = self.base.params + self.params_delta[cols, archs].sum(axis=1)
        flops = self.base.flops + self.flops_delta[cols, archs].sum(axis=1)
        return params.astype(np.int64), flops.astype(np.int64)


# Cost tables of the benchmarks' datasets, computed by `cost_table` from the builders and
# committed (a benchmark load must not build 25 networks); a test recomputes them.
TABLES_FILE = Path(__file__).with_name("cost_tables.json")
TABLE_SPECS = {  # (space, dataset): (in_channels, input_size, num_classes)
    ("nb201", "cifar10"): (3, 32, 10),
    ("nb201", "cifar100"): (3, 32, 100),
    ("nb201", "imagenet16-120"): (3, 16, 120),
}


@cache
def stored_table(space: str, dataset: str) -> CostTable:
    """The committed cost table of `space`'s networks on `dataset` (KeyError if none)."""
    entry = json.loads(TABLES_FILE.read_text())[space][dataset]
    return CostTable(NetCost(**entry["base"]), np.array(entry["params_delta"], dtype=np.int64),
                     np.array(entry["flops_delta"], dtype=np.int64))


