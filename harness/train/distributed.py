"""Data-parallel supernet training under torchrun (`torchrun --nproc_per_node N -m harness train`).

What a single-path supernet needs that plain DDP does not give:
  * every rank draws the same path at every step: the sampler is seeded alike on every rank and
    only sees rank-identical inputs (averaged gradients, the fixed probe batch), and a cheap
    all-reduce of the drawn keys' hash checks it every step (`check_same_draw`);
  * gradients are averaged over the active path only: `all_reduce_gradients` flattens the tensors
    that have a gradient into buckets and all-reduces them (no hooks on the thousands of unused
    parameters; `nas-harness bench --only ddp` times it against DDP(find_unused_parameters=True));
  * each rank reads its slice of every global batch (harness.data.loaders `shard`), augmented as
    in the whole batch, so N ranks at per-rank batch B/N see exactly the data of one rank at B;
  * rank 0 alone writes the run directory; density recomputes are sharded over ranks
    (`shard_map`) and gathered, so every rank ends with the same density.

Backend: nccl on CUDA, gloo on CPU. Outside torchrun everything here is a no-op (`SINGLE`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from harness.errors import HarnessError


class RanksDiverged(HarnessError):
    pass


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def shard(self) -> tuple[int, int] | None:
        return (self.rank, self.world_size) if self.enabled else None


SINGLE = Dist()


def launched_world_size() -> int:
    """The number of processes torchrun started (1 outside torchrun)."""
    try:
        return int(os.environ.get("WORLD_SIZE", "1"))
    except ValueError:
        raise HarnessError(f"WORLD_SIZE={os.environ['WORLD_SIZE']!r} is not a number; launch "
                           "with torchrun --nproc_per_node N") from None


def init(device: str, world_size: int) -> Dist:
    """Join the torchrun process group (nccl on CUDA, gloo on CPU) for a run configured for
    `world_size` processes; SINGLE for a one-process run."""
    launched = launched_world_size()
    if world_size != launched:
        raise HarnessError(f"the run is configured for {world_size} process(es) but "
                           f"{launched} were launched; launch with torchrun --nproc_per_node "
                           f"{world_size}, or start a new run")
    if world_size == 1:
        return SINGLE
    import torch.distributed as dist

    backend = "nccl" if device.startswith("cuda") else "gloo"
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return Dist(dist.get_rank(), dist.get_world_size(), local_rank, backend)


def device_for(name: str, d: Dist) -> str:
    """Rank's device: cuda -> cuda:<local rank> under torchrun."""
    if d.enabled and name.startswith("cuda"):
        return f"cuda:{d.local_rank}"
    return name


def _dist():
    import torch.distributed as dist

    return dist


def _comm_device(d: Dist) -> torch.device:
    return torch.device(f"cuda:{d.local_rank}") if d.backend == "nccl" else torch.device("cpu")


def broadcast_object(d: Dist, obj):
    """Rank 0's `obj` on every rank."""
    if not d.enabled:
        return obj
    box = [obj]
    _dist().broadcast_object_list(box, src=0)
    return box[0]


def barrier(d: Dist) -> None:
    if d.enabled:
        _dist().barrier()


def key_hash(keys: Sequence[str]) -> int:
    digest = hashlib.blake2b("|".join(keys).encode(), digest_size=7).digest()
    return int.from_bytes(digest, "big")


def check_same_draw(d: Dist, keys: Sequence[str], step: int) -> None:
    """Stop the run when the ranks drew different paths at `step` (one all-reduce of 2 ints)."""
    if not d.enabled:
        return
    h = key_hash(keys)
    both = torch.tensor([h, -h], dtype=torch.int64, device=_comm_device(d))
    _dist().all_reduce(both, op=_dist().ReduceOp.MAX)
    if int(both[0]) != -int(both[1]):
        raise RanksDiverged(f"rank {d.rank}: the ranks drew different architectures at step "
                            f"{step} (this rank: {', '.join(keys)}); their sampler states have "
                            "diverged, which is a bug: report it with the run's config.json")


BUCKET_BYTES = 25 * 2**20


def all_reduce_gradients(d: Dist, params: Sequence[torch.nn.Parameter]) -> None:
    """Average the gradients of the parameters that have one (the active path's) over the ranks,
    in flat buckets of about 25 MB. Every rank drew the same path, so the set is the same."""
    if not d.enabled:
        return
    grads = [p.grad for p in params if p.grad is not None]
    buckets: list[list[torch.Tensor]] = []
    current: list[torch.Tensor] = []
    size = 0
    for g in grads:
        nbytes = g.numel() * g.element_size()
        if current and (size + nbytes > BUCKET_BYTES or g.dtype != current[0].dtype):
            buckets.append(current)
            current, size = [], 0
        current.append(g)
        size += nbytes
    if current:
        buckets.append(current)
    for bucket in buckets:
        flat = torch.cat([t.reshape(-1) for t in bucket])
        _dist().all_reduce(flat)
        flat.div_(d.world_size)
        offset = 0
        for t in bucket:
            t.copy_(flat[offset:offset + t.numel()].view_as(t))
            offset += t.numel()


def all_ranks_finite(d: Dist, loss: torch.Tensor) -> bool:
    """Whether the loss is finite on every rank (one all-reduce), so that all ranks stop
    together instead of one raising while the others wait in a collective."""
    finite = bool(torch.isfinite(loss))
    if not d.enabled:
        return finite
    flag = torch.tensor([1 if finite else 0], dtype=torch.int64, device=_comm_device(d))
    _dist().all_reduce(flag, op=_dist().ReduceOp.MIN)
    return bool(flag.item())


def sum_over_ranks(d: Dist, values: Sequence[float]) -> list[float]:
    """Element-wise sums over ranks (epoch loss and accuracy totals for the log)."""
    if not d.enabled:
        return list(values)
    t = torch.tensor(list(values), dtype=torch.float64, device=_comm_device(d))
    _dist().all_reduce(t)
    return t.tolist()


def broadcast_buffers(d: Dist, module: torch.nn.Module) -> None:
    """Rank 0's buffers (BatchNorm running statistics) on every rank, before a checkpoint: the
    statistics of half batches differ between ranks, and rank 0's are the ones saved."""
    if not d.enabled:
        return
    for buffer in module.buffers():
        _dist().broadcast(buffer.data, src=0)


def shard_map(d: Dist) -> Callable | None:
    """A `map_archs(fn, archs)` for samplers: each rank applies `fn` (archs -> {name: Tensor
    [len, ...]}) to a contiguous slice of `archs`, and every rank gets the slices concatenated in
    order, so the result equals fn(archs) with the work divided by the number of ranks."""
    if not d.enabled:
        return None

    def mapped(fn, archs):
        archs = list(archs)
        bounds = [len(archs) * r // d.world_size for r in range(d.world_size + 1)]
        mine = fn(archs[bounds[d.rank]:bounds[d.rank + 1]]) if bounds[d.rank + 1] > bounds[d.rank] else None
        parts = [None] * d.world_size
        _dist().all_gather_object(parts, None if mine is None else
                                  {k: v.cpu() for k, v in mine.items()})
        parts = [p for p in parts if p is not None]
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}

    return mapped


def shutdown(d: Dist) -> None:
    if d.enabled and _dist().is_initialized():
        _dist().destroy_process_group()
