"""Per-architecture gradient features of the shared weights of selected layers, on one batch.

`gradient_features` runs, for each architecture, one forward pass of its path and one
`torch.autograd.grad` call restricted to the parameters of the selected layer groups (all
candidates of those positions). The feature of an architecture at a layer is the flattened,
concatenated gradient of the loss w.r.t. that group's parameters; parameters off the path get no
gradient and contribute zeros, so every architecture's vector at a layer has the same length.

Nothing of the supernet changes:
  * weights and optimizer state: no optimizer is involved and no parameter is written;
  * `.grad` fields: `torch.autograd.grad` returns the gradients instead of accumulating them
    into `.grad`; the `.grad` references are saved before and put back after anyway, so even a
    `loss_fn` that calls `.backward()` itself could not leave a trace;
  * BN running statistics: BN runs with batch statistics and `track_running_stats=False` (the
    `"batch"` mode of `harness.evaluate.supernet_eval.bn_mode`), which neither reads nor updates
    running_mean / running_var / num_batches_tracked; the modes are restored on exit.

What is batched: the batch is moved to the supernet's device once and reused for every
architecture; all parameters of all selected layers are differentiated in one `autograd.grad`
call per architecture. Architectures themselves run one after the other: their paths differ, so
there is no common graph to vectorise over. Features are gathered on `out_device` (CPU by
default), so GPU memory holds one architecture's graph at a time.

`GaussianProjection` maps a layer's gradient (dimension d_l) to a fixed dimension with a seeded
Gaussian matrix (Johnson-Lindenstrauss: inner products, hence cosines, are preserved up to
O(1/sqrt(out_dim)) relative error), generated once per (seed, layer index, d_l) from a CPU
`torch.Generator`, so it is identical across machines and never touches the global RNG.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import Tensor

from harness.errors import HarnessError
from harness.evaluate.supernet_eval import bn_mode

# The "early layers" whose gradients describe an architecture: the first searchable positions.
DEFAULT_EARLY_LAYERS = 3


def select_layer_groups(supernet, layers: Sequence[str] | None = None
                        ) -> list[tuple[str, list[torch.nn.Parameter]]]:
    """(name, params) of the chosen layer groups; None = the first DEFAULT_EARLY_LAYERS groups."""
    groups = supernet.layer_groups()
    if layers is None:
        return groups[:DEFAULT_EARLY_LAYERS]
    by_name = dict(groups)
    unknown = [name for name in layers if name not in by_name]
    if unknown:
        raise HarnessError(f"unknown layer group(s) {unknown} for {type(supernet).__name__}; "
                           f"known: {', '.join(by_name)}")
    if not layers:
        raise HarnessError("layers: select at least one layer group")
    return [(name, by_name[name]) for name in layers]


@contextmanager
def untouched(supernet) -> Iterator[None]:
    """BN in batch-statistics mode without running-stat updates; `.grad` references restored."""
    saved = [(p, p.grad) for p in supernet.parameters()]
    try:
        with bn_mode(supernet, "batch"), torch.enable_grad():
            yield
    finally:
        for p, grad in saved:
            p.grad = grad


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
                      layers: Sequence[str] | None = None,
                      projection: GaussianProjection | None = None,
                      out_device="cpu") -> dict[str, Tensor]:
    """{layer name: Tensor [len(archs), dim]}: gradient of loss_fn(supernet(x, arch), y) w.r.t.
    the layer group's parameters (concatenated in `parameters()` order; zeros off the path).

    With `projection`, each layer's vector is projected to projection.out_dim. Features are
    float32 on `out_device`. The supernet is left exactly as it was (see the module docstring).
    """
    groups = select_layer_groups(supernet, layers)
    device = _device_of(supernet)
    x, y = batch
    x, y = x.to(device), y.to(device)
    flat: list[torch.nn.Parameter] = []
    spans: list[tuple[str, int, int]] = []
    for name, params in groups:
        params = [p for p in params if p.requires_grad]
        spans.append((name, len(flat), len(flat) + len(params)))
        flat.extend(params)
    if not flat:
        raise HarnessError(f"layer groups {[n for n, _ in groups]} have no trainable parameters")
    rows: dict[str, list[Tensor]] = {name: [] for name, _, _ in spans}
    with untouched(supernet):
        for arch in archs:
            loss = loss_fn(supernet(x, tuple(arch)).float(), y)
            grads = torch.autograd.grad(loss, flat, allow_unused=True)
            for index, (name, start, stop) in enumerate(spans):
                parts = [torch.zeros(p.numel(), device=device) if g is None else g.reshape(-1).float()
                         for p, g in zip(flat[start:stop], grads[start:stop])]
                vec = torch.cat(parts) if parts else torch.zeros(0, device=device)
                if projection is not None:
                    vec = projection(index, vec)
                rows[name].append(vec.detach().to(out_device))
            del loss, grads
    return {name: torch.stack(vecs) if vecs else torch.zeros(0, 0) for name, vecs in rows.items()}


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
