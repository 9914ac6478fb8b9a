"""Per-architecture gradient features of selected weight tensors, on one batch.

Each weight tensor is its own layer, as in the authors' per-tensor analysis: the feature of an
architecture at a tensor is the flattened gradient of the loss w.r.t. that tensor. A tensor off
the architecture's path (a candidate op it does not pick) gets no gradient and contributes a zero
row, so every architecture's vector at a tensor has the same length.

Which tensors: `select_feature_tensors(supernet, layers, feature_set)`. `feature_set` names one
of the supernet's sets (`Supernet.feature_sets`: shared, early, groups3, all; None = the space's
default); `layers` overrides it with tensor names, module prefixes (every weight tensor under
`layers.2` or `features.0`) or glob patterns (`cells.0.*`).

`gradient_features` runs, for each architecture, one forward pass of its path and one
`torch.autograd.grad` call on the selected tensors only; during the call every other parameter
has requires_grad off, so no weight gradient of any other layer is computed or stored (the
backward pass still runs through the later layers, whose activations carry the gradient back).

Nothing of the supernet changes:
  * weights and optimizer state: no optimizer is involved and no parameter is written;
  * `.grad` fields: `torch.autograd.grad` returns the gradients instead of accumulating them
    into `.grad`; the `.grad` references are saved before and put back after anyway;
  * requires_grad flags: restored on exit;
  * BN running statistics: BN runs with batch statistics and `track_running_stats=False` (the
    "batch" mode of `harness.nets.batchnorm.bn_mode`); the modes are restored on exit.

The batch is moved to the supernet's device once and reused for every architecture. Features are
gathered on `out_device` (CPU by default), so GPU memory holds one architecture's graph at a time.
A tensor with more elements than a projection's `out_dim` can be count-sketched (`CountSketch`:
unbiased inner products, relative cosine error about 1/sqrt(out_dim), O(numel) memory) or
Gaussian-projected (`GaussianProjection`, d x out_dim memory) to fixed size.
"""

from __future__ import annotations

import fnmatch
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from harness.errors import HarnessError
from harness.nets.batchnorm import bn_mode

FEATURE_SETS = ("shared", "early", "groups3", "all")


def _listing(names: Sequence[str], limit: int = 30) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def select_feature_tensors(supernet, layers: Sequence[str] | None = None,
                           feature_set: str | None = None) -> list[tuple[str, torch.nn.Parameter]]:
    """(name, weight tensor) pairs whose gradients describe an architecture, in forward order."""
    tensors = supernet.weight_tensors()
    by_name = dict(tensors)
    if layers is None:
        sets = supernet.feature_sets()
        chosen = feature_set or supernet.default_feature_set
        if chosen not in sets:
            raise HarnessError(f"unknown feature set '{chosen}'; use one of {', '.join(sets)}")
        names = sets[chosen]
        if not names:
            raise HarnessError(f"feature set '{chosen}' is empty for {type(supernet).__name__}; "
                               f"choose another ({', '.join(k for k, v in sets.items() if v)})")
        return [(n, by_name[n]) for n in names]
    if isinstance(layers, str) or not layers:
        raise HarnessError("layers: give a list of at least one tensor name, module prefix or glob")
    picked: dict[str, None] = {}
    for entry in layers:
        if entry in by_name:
            matches = [entry]
        elif any(ch in entry for ch in "*?["):
            matches = [n for n, _ in tensors if fnmatch.fnmatchcase(n, entry)]
        else:
            matches = [n for n, _ in tensors if n.startswith(entry + ".")]
        if not matches:
            raise HarnessError(f"layers: no weight tensor matches '{entry}' in "
                               f"{type(supernet).__name__}; valid names: "
                               f"{_listing([n for n, _ in tensors])}")
        picked.update(dict.fromkeys(matches))
    order = {n: i for i, (n, _) in enumerate(tensors)}
    return [(n, by_name[n]) for n in sorted(picked, key=order.__getitem__)]


@contextmanager
def untouched(supernet, differentiate: Sequence[torch.nn.Parameter] | None = None
              ) -> Iterator[None]:
    """BN in batch-statistics mode without running-stat updates; `.grad` references restored.

    With `differentiate`, only those parameters require grad inside the block (all flags are
    restored on exit), so backward computes no other weight gradient.
    """
    params = list(supernet.parameters())
    saved = [(p, p.grad, p.requires_grad) for p in params]
    keep = None if differentiate is None else {id(p) for p in differentiate}
    try:
        if keep is not None:
            for p in params:
                if id(p) not in keep:
                    p.requires_grad_(False)
        with bn_mode(supernet, "batch"), torch.enable_grad():
            yield
    finally:
        for p, grad, flag in saved:
            p.requires_grad_(flag)
            p.grad = grad


class CountSketch:
    """Seeded count sketch per tensor: x [.., d] -> [.., out_dim], sum of +-x_i per bucket.

    Inner products (hence cosines) are unbiased, with relative error about 1/sqrt(out_dim); the
    sketch costs O(d) time and memory (a bucket and a sign per coordinate), so it suits large
    tensors where a Gaussian matrix (d x out_dim) would not fit.
    """

    def __init__(self, seed: int, out_dim: int):
        if out_dim < 1:
            raise HarnessError(f"sketch dimension must be >= 1, got {out_dim}")
        self.seed, self.out_dim = int(seed), int(out_dim)
        self._cache: dict[tuple[int, int, str], tuple[Tensor, Tensor]] = {}

    def _hash(self, index: int, in_dim: int, device) -> tuple[Tensor, Tensor]:
        key = (index, in_dim, str(device))
        if key not in self._cache:
            state = np.random.SeedSequence([self.seed, 0xC5, index, in_dim]).generate_state(2)
            gen = torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))
            buckets = torch.randint(self.out_dim, (in_dim,), generator=gen)
            signs = torch.randint(2, (in_dim,), generator=gen).float() * 2 - 1
            self._cache[key] = (buckets.to(device), signs.to(device))
        return self._cache[key]

    def __call__(self, index: int, x: Tensor) -> Tensor:
        if x.shape[-1] <= self.out_dim:
            return x.to(torch.float32)
        buckets, signs = self._hash(index, x.shape[-1], x.device)
        flat = x.reshape(-1, x.shape[-1]).to(torch.float32) * signs
        out = torch.zeros(flat.shape[0], self.out_dim, device=x.device)
        out.index_add_(1, buckets, flat)
        return out.reshape(*x.shape[:-1], self.out_dim)


class GaussianProjection:
    """Seeded Gaussian random projection per layer: x [.., d] -> x @ G [.., out_dim].

    G has i.i.d. N(0, 1/out_dim) entries, drawn from a CPU torch.Generator seeded by
    (seed, layer index, d) and cached (d * out_dim floats per layer).
    """

    def __init__(self, seed: int, out_dim: int):
        if out_dim < 1:
            raise HarnessError(f"projection dimension must be >= 1, got {out_dim}")
        self.seed = int(seed)
        self.out_dim = int(out_dim)
        self._cache: dict[tuple[int, int], Tensor] = {}

    def matrix(self, index: int, in_dim: int, device=None) -> Tensor:
        key = (index, in_dim)
        if key not in self._cache:
            state = np.random.SeedSequence([self.seed, 0x9A0, index, in_dim]).generate_state(2)
            gen = torch.Generator().manual_seed(int(state[0]) << 31 ^ int(state[1]))
            g = torch.randn(in_dim, self.out_dim, generator=gen, dtype=torch.float32)
            self._cache[key] = g / math.sqrt(self.out_dim)
        g = self._cache[key]
        if device is not None and g.device != torch.device(device):
            g = g.to(device)
            self._cache[key] = g
        return g

    def __call__(self, index: int, x: Tensor) -> Tensor:
        g = self.matrix(index, x.shape[-1], x.device)
        return x.to(torch.float32) @ g


def _device_of(module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def gradient_features(supernet, archs: Sequence, batch: tuple, loss_fn: Callable,
                      tensors: Sequence[tuple[str, torch.nn.Parameter]] | None = None,
                      projection: Callable | None = None, out_device="cpu",
                      only_selected_require_grad: bool = True) -> dict[str, Tensor]:
    """{tensor name: Tensor [len(archs), dim]}: gradient of loss_fn(supernet(x, arch), y) w.r.t.
    each selected weight tensor (zeros where the path does not use it).

    `tensors` defaults to the space's default feature set (`select_feature_tensors`). With
    `projection` (a CountSketch or GaussianProjection), each tensor's vector is mapped to its
    out_dim. Features are float32 on `out_device`. The supernet is left exactly as it was.
    `only_selected_require_grad=False` keeps every parameter's requires_grad on (the older,
    slower behaviour; `nas-harness bench` times both).
    """
    if tensors is None:
        tensors = select_feature_tensors(supernet)
    tensors = [(name, p) for name, p in tensors if p.requires_grad]
    if not tensors:
        raise HarnessError("the selected tensors have no trainable parameters")
    device = _device_of(supernet)
    x, y = batch
    x, y = x.to(device), y.to(device)
    params = [p for _, p in tensors]
    rows: dict[str, list[Tensor]] = {name: [] for name, _ in tensors}
    with untouched(supernet, differentiate=params if only_selected_require_grad else None):
        for arch in archs:
            loss = loss_fn(supernet(x, tuple(arch)).float(), y)
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, params, allow_unused=True)
            else:  # the path uses none of the selected tensors (e.g. no conv in those cells)
                grads = (None,) * len(params)
            for index, ((name, p), g) in enumerate(zip(tensors, grads)):
                vec = torch.zeros(p.numel(), device=device) if g is None else g.reshape(-1).float()
                if projection is not None:
                    vec = projection(index, vec)
                rows[name].append(vec.detach().to(out_device))
            del loss, grads
    return {name: torch.stack(vecs) for name, vecs in rows.items()}


def embed(features: dict[str, Tensor]) -> Tensor:
    """[n, sum dims]: each layer's rows scaled to unit norm, concatenated, divided by sqrt(L).

    For two such vectors u, v: ||u - v||^2 / 2 = mean over layers of (1 - cos_l), the
    layer-averaged cosine distance, so Euclidean clustering of embeddings respects it. Zero rows
    stay zero.
    """
    parts = []
    for value in features.values():
        norms = value.norm(dim=1, keepdim=True)
        parts.append(torch.where(norms > 0, value / norms.clamp_min(1e-30), torch.zeros_like(value)))
    return torch.cat(parts, dim=1) / math.sqrt(max(len(parts), 1))
