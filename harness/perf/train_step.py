"""Supernet step vs stand-alone step of the same architecture, and pooling evaluation vs the sum
of stand-alone forward passes. Both sides run interleaved in one process on the same batch."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from harness.perf.sections import bench_section

# (space, NetConfig kwargs): Fashion-MNIST inputs (28x28x1; mobilenet at 32x32x3) at this
# section's own widths, which are not the cpu profile's (its pooling and NB-Macro runs use 0.5):
# the ratio of a supernet step to the stand-alone step of the same network is what is measured,
# and changing the widths would move every recorded ratio. PAPER_SHAPES: the paper's sizes
# (CIFAR 32x32x3 at full width, MobileNetV2 at ImageNet 224x224).
SHAPES = {
    "pooling": dict(in_channels=1, input_size=28, width_mult=1.0),
    "nb-macro": dict(in_channels=1, input_size=28, width_mult=0.5),
    "nb201": dict(in_channels=1, input_size=28, width_mult=1.0),
    "mobilenet": dict(in_channels=3, input_size=32, width_mult=0.5, stem_stride=1),
}
PAPER_SHAPES = {
    "pooling": (dict(in_channels=3, input_size=32), 10, 256),
    "nb-macro": (dict(in_channels=3, input_size=32), 10, 256),
    "nb201": (dict(in_channels=3, input_size=32), 10, 256),
    "mobilenet": (dict(in_channels=3, input_size=224), 1000, 128),
}
STEP_TARGET = 1.05


def _step(model, optimizer, x, y, arch=None, scaler=None):
    optimizer.zero_grad(set_to_none=True)
    with torch.autocast(x.device.type, dtype=torch.float16, enabled=scaler is not None):
        logits = model(x) if arch is None else model(x, arch)
        loss = F.cross_entropy(logits, y)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(sync_device, fn, /, *args, **kwargs) -> float:
    _sync(sync_device)
    start = time.perf_counter()
    fn(*args, **kwargs)
    _sync(sync_device)
    return time.perf_counter() - start


class _threads:
    """Timings on a shared CPU swing wildly with several torch threads; 1 thread is stable."""

    def __init__(self, n: int):
        self.n, self.saved = n, torch.get_num_threads()

    def __enter__(self):
        torch.set_num_threads(self.n)

    def __exit__(self, *exc):
        torch.set_num_threads(self.saved)


def ratio_spread(t_super: list[float], t_alone: list[float]) -> dict:
    """Median and interquartile range of the per-repeat ratios (each repeat times one supernet
    step and, right after, one stand-alone step: drift hits both alike)."""
    ratios = np.asarray(t_super) / np.asarray(t_alone)
    q25, q50, q75 = np.percentile(ratios, [25, 50, 75])
    return {"ratio_median": round(float(q50), 3), "ratio_q25": round(float(q25), 3),
            "ratio_q75": round(float(q75), 3), "repeats": len(ratios)}


@bench_section("train-step")
def train_step_ratio(device: str = "cpu", quick: bool = False, batch_size: int | None = None,
                     threads: int = 1, spaces: tuple[str, ...] | None = None,
                     paper_size: bool = False, amp: bool = False, channels_last: bool = False,
                     **_) -> list[dict]:
    """A supernet step against the stand-alone step of the same architecture, interleaved."""
    with _threads(threads):
        return _train_step_ratio(device, quick, batch_size, spaces or tuple(SHAPES), paper_size,
                                 amp, channels_last)


def _train_step_ratio(device: str, quick: bool, batch_size: int | None, spaces: tuple[str, ...],
                      paper_size: bool, amp: bool, channels_last: bool) -> list[dict]:
    from harness.nets import NetConfig, build_standalone, build_supernet
    from harness.spaces import get_space

    device = torch.device(device)
    amp = amp and device.type == "cuda"
    repeats = 9 if quick else 41
    rows = []
    rng = np.random.default_rng(0)
    for space_name in spaces:
        if paper_size:
            shape, classes, batch = PAPER_SHAPES[space_name]
        else:
            shape, classes, batch = SHAPES[space_name], 10, 128
        batch = batch_size or batch
        space = get_space(space_name)
        cfg = NetConfig(num_classes=classes, **shape)
        arch = space.sample(rng)
        torch.manual_seed(0)
        supernet = build_supernet(space_name, cfg).to(device)
        standalone = build_standalone(space_name, arch, cfg).to(device)
        standalone.load_state_dict(supernet.path_state_dict(arch))
        memory_format = torch.channels_last if channels_last else torch.contiguous_format
        supernet, standalone = (supernet.to(memory_format=memory_format),
                                standalone.to(memory_format=memory_format))
        opt_super = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        opt_alone = torch.optim.SGD(standalone.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        scalers = ((torch.amp.GradScaler("cuda"), torch.amp.GradScaler("cuda")) if amp
                   else (None, None))
        x = torch.randn(batch, cfg.in_channels, cfg.input_size, cfg.input_size, device=device)
        x = x.contiguous(memory_format=memory_format)
        y = torch.randint(0, classes, (batch,), device=device)
        for _ in range(3):  # warm-up both
            _step(supernet, opt_super, x, y, arch, scalers[0])
            _step(standalone, opt_alone, x, y, None, scalers[1])
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        t_super, t_alone = [], []
        for _ in range(repeats):  # interleaved, so drift hits both sides alike
            t_super.append(_timed(device, _step, supernet, opt_super, x, y, arch, scalers[0]))
            t_alone.append(_timed(device, _step, standalone, opt_alone, x, y, None, scalers[1]))
        s, a = statistics.median(t_super), statistics.median(t_alone)
        spread = ratio_spread(t_super, t_alone)
        row = {"space": space_name, "arch": space.key(arch), "batch": batch,
               "input": f"{cfg.in_channels}x{cfg.input_size}x{cfg.input_size}",
               "amp": amp, "channels_last": channels_last,
               "supernet_step_ms": round(1e3 * s, 2), "standalone_step_ms": round(1e3 * a, 2),
               **spread, "supernet_images_per_s": round(batch / s, 1),
               "target": STEP_TARGET, "meets_target": spread["ratio_median"] <= STEP_TARGET}
        if device.type == "cuda":
            row["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
        rows.append(row)
    return rows


@bench_section("eval-pooling")
def pooling_eval_ratio(device: str = "cpu", quick: bool = False, threads: int = 1,
                       images: int = 250, **_) -> list[dict]:
    """Pooling supernet evaluation of all 36 networks against the sum of their stand-alone
    forward passes."""
    with _threads(threads):
        return _pooling_eval_ratio(device, quick, images)


def _pooling_eval_ratio(device: str, quick: bool, images: int) -> list[dict]:
    from harness.evaluate import evaluate_archs
    from harness.nets import NetConfig, build_standalone, build_supernet
    from harness.spaces import get_space

    device = torch.device(device)
    space = get_space("pooling")
    cfg = NetConfig(in_channels=1, num_classes=10, input_size=28, width_mult=0.5)
    generator = torch.Generator().manual_seed(0)
    n_batches = 2 if quick else 4
    batches = [(torch.randn(images, 1, 28, 28, generator=generator),
                torch.randint(0, 10, (images,), generator=generator)) for _ in range(n_batches)]
    archs = list(space.enumerate())
    torch.manual_seed(0)
    supernet = build_supernet("pooling", cfg).to(device)
    standalones = []
    for arch in archs:
        net = build_standalone("pooling", arch, cfg).to(device)
        net.load_state_dict(supernet.path_state_dict(arch))
        net.train()  # the pooling nets use batch statistics, as the supernet's "batch" BN mode
        standalones.append(net)

    @torch.no_grad()
    def alone(net):
        for x, _ in batches:
            net(x.to(device))

    # Interleaved per architecture, so background load hits both sides alike.
    repeats = 2 if quick else 3
    t_super, t_alone = [0.0] * repeats, [0.0] * repeats
    for r in range(repeats + 1):
        for arch, net in zip(archs, standalones):
            s_time = _timed(device, evaluate_archs, supernet, [arch], batches, "batch",
                            device=device)
            a_time = _timed(device, alone, net)
            if r > 0:  # the first pass warms up
                t_super[r - 1] += s_time
                t_alone[r - 1] += a_time
    s, a = min(t_super), min(t_alone)
    return [{"archs": len(archs), "images": sum(len(b[1]) for b in batches),
             "supernet_eval_s": round(s, 3), "standalone_forward_sum_s": round(a, 3),
             "ratio": round(s / a, 3), "target": 1.2, "meets_target": s / a <= 1.2}]
