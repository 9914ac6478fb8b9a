"""Data-parallel training on 2 CPU processes (gloo) against 1 process at the same global batch:
the step time with the harness's bucketed all-reduce of the active path's gradients and with
torch DDP(find_unused_parameters=True), and a density recompute (gradient features of 32
networks) sharded over 2 ranks against 1. On the NB-Macro supernet, whose candidate ops have
their own weights, so most parameters are off the path at every step."""

from __future__ import annotations

import json
import os
import socket
import statistics
import tempfile
import time
from pathlib import Path

import torch

from harness.perf.sections import bench_section

SPACE = "nb-macro"
SHAPE = dict(in_channels=1, input_size=28, width_mult=0.5)
N_ARCHS = 32


def _setup(batch: int):
    from harness.nets import NetConfig, build_supernet
    from harness.spaces import get_space

    torch.manual_seed(0)
    space = get_space(SPACE)
    net = build_supernet(SPACE, NetConfig(num_classes=10, **SHAPE))
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 1, 28, 28, generator=g)
    y = torch.randint(0, 10, (batch,), generator=g)
    return space, net, x, y


def _archs(space) -> list:
    import numpy as np

    rng = np.random.default_rng(0)
    return [space.sample(rng) for _ in range(N_ARCHS)]


def _steps(net, space, x, y, steps: int, reduce=None, model=None) -> list[float]:
    import torch.nn.functional as F

    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    archs = _archs(space)
    params = list(net.parameters())
    times = []
    for i in range(steps + 2):
        arch = archs[i % len(archs)]
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy((model or net)(x, arch), y).backward()
        if reduce is not None:
            reduce(params)
        optimizer.step()
        if i >= 2:
            times.append(time.perf_counter() - start)
    return times


def _recompute(net, space, probe, shard_map=None) -> float:
    import torch.nn.functional as F

    from harness.density.features import gradient_features

    archs = _archs(space)
    start = time.perf_counter()
    fn = lambda part: gradient_features(net, part, probe, F.cross_entropy)  # noqa: E731
    feats = fn(archs) if shard_map is None else shard_map(fn, archs)
    assert len(next(iter(feats.values()))) == len(archs)
    return time.perf_counter() - start


def _worker(rank: int, world: int, port: int, batch: int, steps: int, out: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    from harness.train import distributed

    d = distributed.init("cpu", world)
    space, net, x, y = _setup(batch)
    part = slice(rank * batch // world, (rank + 1) * batch // world)
    xs, ys = x[part], y[part]
    bucketed = _steps(net, space, xs, ys, steps,
                      reduce=lambda params: distributed.all_reduce_gradients(d, params))
    from torch.nn.parallel import DistributedDataParallel

    space, net, x, y = _setup(batch)
    ddp = DistributedDataParallel(net, find_unused_parameters=True)
    wrapped = _steps(net, space, xs, ys, steps, model=ddp)
    _, net, _, _ = _setup(batch)
    recompute = _recompute(net, space, (x[:128], y[:128]), distributed.shard_map(d))
    if rank == 0:
        Path(out).write_text(json.dumps({"bucketed": bucketed, "ddp": wrapped,
                                         "recompute": recompute}))
    distributed.shutdown(d)


@bench_section("ddp")
def ddp_two_processes(quick: bool = False, batch_size: int = 128, **_) -> list[dict]:
    """Two gloo processes against one: a data-parallel step's time and the sharded density
    recompute, side by side."""
    import torch.multiprocessing as mp

    steps = 5 if quick else 20
    torch.set_num_threads(1)
    space, net, x, y = _setup(batch_size)
    single = _steps(net, space, x, y, steps)
    _, net, _, _ = _setup(batch_size)
    single_recompute = _recompute(net, space, (x[:128], y[:128]))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = str(Path(tmp) / "ddp.json")
        mp.spawn(_worker, args=(2, port, batch_size, steps, out), nprocs=2, join=True)
        two = json.loads(Path(out).read_text())
    one_ms = 1e3 * statistics.median(single)
    rows = []
    for name, label in (("bucketed", "bucketed all-reduce of the active path's gradients"),
                        ("ddp", "DDP(find_unused_parameters=True)")):
        ms = 1e3 * statistics.median(two[name])
        rows.append({"what": f"step, 2 processes, {label}", "global_batch": batch_size,
                     "step_ms": round(ms, 2), "one_process_step_ms": round(one_ms, 2),
                     "ratio_to_one_process": round(ms / one_ms, 3)})
    rows.append({"what": f"density recompute ({N_ARCHS} {SPACE} networks, 128-image probe), 2 ranks",
                 "seconds": round(two["recompute"], 3),
                 "one_rank_seconds": round(single_recompute, 3),
                 "ratio_to_one_rank": round(two["recompute"] / single_recompute, 3)})
    rows.append({"what": "note", "cores": os.cpu_count(),
                 "note": "2 processes need 2 idle cores: on a loaded machine the ratios measure "
                         "the load, not the method"})
    return rows
