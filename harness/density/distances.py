"""Distance matrices between architectures: [n, n] float64 tensors with a zero diagonal.

cosine_distance_matrix  1 - cosine similarity of feature rows. A zero-norm row (an architecture
                        whose path has no parameter in the layer, e.g. a true identity) has no
                        direction: its similarity to a non-zero row is taken as 0, i.e.
                        distance 1, as torch.nn.functional.cosine_similarity does with its eps.
                        Two zero rows are at distance 0: both paths take the same (empty) op in
                        that layer, just as two paths sharing a conv share its weights; counting
                        them as maximally far would make every identity look sparse and be
                        over-sampled. The diagonal is 0.
layer_averaged_cosine   the cosine distance per layer, then the mean over layers (the paper).
hamming_distance_matrix number of positions where the space's encodings differ (raw counts).
cka_distance_matrix     1 - linear CKA between feature maps of the architectures on one batch
                        (Kornblith et al. 2019), via centred Gram matrices so feature maps of
                        different shapes compare; an ablation option.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from harness.density.features import _device_of, untouched
from harness.errors import HarnessError


def cosine_distance_matrix(feats: Tensor) -> Tensor:
    """[n, d] -> [n, n] float64 tensor 1 - cos(a, b); zero rows as described above."""
    if feats.dim() != 2:
        raise ValueError(f"features must be [n, d], got shape {tuple(feats.shape)}")
    f = feats.detach().to(torch.float64) if feats.numel() <= 2**26 else feats.detach().float()
    norms = f.norm(dim=1, keepdim=True)
    unit = torch.where(norms > 0, f / norms.clamp_min(1e-300), torch.zeros_like(f))
    sim = (unit @ unit.T).to(torch.float64).clamp(-1.0, 1.0)
    dist = 1.0 - sim
    zero = (norms.squeeze(1) == 0).to(dist.device)
    dist[zero[:, None] & zero[None, :]] = 0.0
    dist.fill_diagonal_(0.0)
    return dist.cpu()


def layer_averaged_cosine(features: dict[str, Tensor]) -> Tensor:
    """Cosine distance matrix of each layer's features, averaged over the layers."""
    return layer_averaged_cosine_with_means(features)[0]


def layer_averaged_cosine_with_means(features: dict[str, Tensor]
                                     ) -> tuple[Tensor, dict[str, float]]:
    """(the layer-averaged cosine distance matrix, {layer: mean pairwise distance}).

    The per-layer means are over distinct pairs of rows, unweighted; they come from the same
    matrices as the average, at no extra cost.
    """
    if not features:
        raise ValueError("no layers to average over")
    total = None
    means: dict[str, float] = {}
    for name, value in features.items():  # one layer at a time: one [n, n] matrix in memory
        dist = cosine_distance_matrix(value)
        n = dist.shape[0]
        means[name] = float(dist.sum() / (n * (n - 1))) if n > 1 else float("nan")
        total = dist if total is None else total.add_(dist)
    return total / len(features), means


def per_layer_mean_distance(features: dict[str, Tensor]) -> dict[str, float]:
    """{layer: mean pairwise cosine distance over distinct pairs} (the paper's Figure 2 figure)."""
    out = {}
    for name, value in features.items():
        n = value.shape[0]
        if n < 2:
            out[name] = float("nan")
            continue
        dist = cosine_distance_matrix(value)
        out[name] = float(dist.sum() / (n * (n - 1)))
    return out


def hamming_distance_matrix(space, archs: Sequence) -> Tensor:
    """[n, n] float64 tensor: positions at which `space.encoding` of the architectures differ."""
    enc = torch.as_tensor(np.stack([space.encoding(tuple(a)) for a in archs]))
    return (enc[:, None, :] != enc[None, :, :]).sum(-1).to(torch.float64)


def feature_maps(supernet, archs: Sequence, batch: tuple, layer: str) -> list[Tensor]:
    """Output of module `layer` (a name from supernet.named_modules(), e.g. a layer group name)
    for each architecture on batch x, captured by a forward hook; no gradients, BN untouched."""
    modules = dict(supernet.named_modules())
    if layer not in modules:
        groups = [name for name, _ in supernet.layer_groups()]
        raise HarnessError(f"no module '{layer}' in {type(supernet).__name__}; layer groups: "
                           f"{', '.join(groups)}")
    captured: list[Tensor] = []
    handle = modules[layer].register_forward_hook(
        lambda _m, _inp, out: captured.append(out.detach().float().cpu()))
    x = batch[0].to(_device_of(supernet))
    out = []
    try:
        with untouched(supernet), torch.no_grad():
            for arch in archs:
                captured.clear()
                supernet(x, tuple(arch))
                if not captured:
                    raise HarnessError(f"module '{layer}' did not run for architecture {arch}")
                out.append(captured[-1])
    finally:
        handle.remove()
    return out


def cka_distance_matrix(feature_maps: list[Tensor]) -> Tensor:
    """[n, n] float64 tensor 1 - linear CKA between the architectures' feature maps.

    Each map is [batch, ...] (the same batch for all); it is flattened to [batch, p], centred over
    the batch, and summarised by its Gram matrix K = X X^T. Linear CKA(X, Y) =
    <K_X, K_Y>_F / (||K_X||_F ||K_Y||_F). A map with zero variance gets CKA 0 with the others.
    """
    if not feature_maps:
        raise ValueError("no feature maps")
    grams = []
    for fmap in feature_maps:
        x = fmap.reshape(fmap.shape[0], -1).to(torch.float64)
        x = x - x.mean(0, keepdim=True)
        grams.append((x @ x.T).reshape(-1))
    if len({g.numel() for g in grams}) != 1:
        raise ValueError("feature maps must come from the same batch (same first dimension)")
    g = torch.stack(grams)
    norms = g.norm(dim=1, keepdim=True)
    unit = torch.where(norms > 0, g / norms.clamp_min(1e-300), torch.zeros_like(g))
    dist = 1.0 - (unit @ unit.T).clamp(-1.0, 1.0)
    dist.fill_diagonal_(0.0)
    return dist
