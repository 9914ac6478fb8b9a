"""The BatchNorm modes every supernet and stand-alone network shares.

batch        batch statistics at evaluation too, with no running-statistic updates (the authors'
             pooling supernets; also what density features use, so they never touch BN state)
running      running statistics
recalibrate  running statistics, refreshed per architecture on a few training batches first

Everything that needs a BN mode (evaluation, density features) imports it from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

from harness.errors import HarnessError

BN_MODES = ("batch", "recalibrate", "running")


def batchnorms(model: torch.nn.Module) -> Iterator[torch.nn.modules.batchnorm._BatchNorm]:
    return (m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm))


@contextmanager
def bn_mode(model: torch.nn.Module, mode: str):
    """Put the model in eval mode with BatchNorm in `mode`, then restore every flag on exit.

    "recalibrate" runs as "running" here; `recalibrate_bn` refreshes the statistics beforehand.
    """
    if mode not in BN_MODES:
        raise HarnessError(f"unknown BN evaluation mode '{mode}'; use one of {', '.join(BN_MODES)}")
    was_training = model.training
    saved = [(m, m.training, m.track_running_stats) for m in batchnorms(model)]
    model.eval()
    if mode == "batch":
        for m, _, _ in saved:
            m.train()
            m.track_running_stats = False
    try:
        yield
    finally:
        for m, training, track in saved:
            m.train(training)
            m.track_running_stats = track
        model.train(was_training)


@torch.no_grad()
def recalibrate_bn(model, arch, batches: list, device) -> None:
    """Reset running statistics and re-estimate them on `batches` along `arch`'s path."""
    layers = list(batchnorms(model))
    if not layers or any(m.running_mean is None for m in layers):
        raise HarnessError("bn_eval=recalibrate needs BatchNorm with running statistics; "
                           "set net option bn_track_running_stats=true or use bn_eval=batch")
    saved = [(m, m.momentum) for m in layers]
    for m in layers:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the recalibration batches
    model.train()
    for x, _ in batches:
        model(x.to(device), arch)
    for m, momentum in saved:
        m.momentum = momentum
    model.eval()
