"""Supernet step vs stand-alone step of the same architecture, and pooling evaluation vs the sum
of stand-alone forward passes. Both sides run interleaved in one process on the same batch."""

from __future__ import annotations

import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from harness.perf import bench_section

# (space, NetConfig kwargs): the Fashion-MNIST shapes of the cpu profile, mobilenet at 32x32.
SHAPES = {
    "pooling": dict(in_channels=1, input_size=28, width_mult=1.0),
    "nb-macro": dict(in_channels=1, input_size=28, width_mult=0.5),
    "nb201": dict(in_channels=1, input_size=28, width_mult=1.0),
    "mobilenet": dict(in_channels=3, input_size=32, width_mult=0.5, stem_stride=1),
}


def _step(model, optimizer, x, y, arch=None):
    optimizer.zero_grad(set_to_none=True)
    logits = model(x) if arch is None else model(x, arch)
    F.cross_entropy(logits, y).backward()
    optimizer.step()


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


@bench_section("train-step")
def train_step_ratio(device: str = "cpu", quick: bool = False, batch_size: int = 128,
                     threads: int = 1, spaces: tuple[str, ...] | None = None, **_) -> list[dict]:
    with _threads(threads):
        return _train_step_ratio(device, quick, batch_size, spaces or tuple(SHAPES))


def _train_step_ratio(device: str, quick: bool, batch_size: int, spaces: tuple[str, ...]) -> list[dict]:
    from harness.nets import NetConfig, build_standalone, build_supernet
    from harness.spaces import get_space

    device = torch.device(device)
    repeats = 5 if quick else 15
    rows = []
    rng = np.random.default_rng(0)
    for space_name in spaces:
        shape = SHAPES[space_name]
        space = get_space(space_name)
        cfg = NetConfig(num_classes=10, **shape)
        arch = space.sample(rng)
        torch.manual_seed(0)
        supernet = build_supernet(space_name, cfg).to(device)
        standalone = build_standalone(space_name, arch, cfg).to(device)
        standalone.load_state_dict(supernet.path_state_dict(arch))
        opt_super = torch.optim.SGD(supernet.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        opt_alone = torch.optim.SGD(standalone.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
        x = torch.randn(batch_size, cfg.in_channels, cfg.input_size, cfg.input_size, device=device)
        y = torch.randint(0, 10, (batch_size,), device=device)
        for _ in range(2):  # warm-up both
            _step(supernet, opt_super, x, y, arch)
            _step(standalone, opt_alone, x, y)
        t_super, t_alone = [], []
        for _ in range(repeats):  # interleaved, so drift hits both sides alike
            t_super.append(_timed(device, _step, supernet, opt_super, x, y, arch))
            t_alone.append(_timed(device, _step, standalone, opt_alone, x, y))
        s, a = statistics.median(t_super), statistics.median(t_alone)
        rows.append({"space": space_name, "arch": space.key(arch), "batch": batch_size,
                     "supernet_step_ms": round(1e3 * s, 2), "standalone_step_ms": round(1e3 * a, 2),
                     "ratio": round(s / a, 3), "target": 1.10, "meets_target": s / a <= 1.10})
    return rows


@bench_section("eval-pooling")
def pooling_eval_ratio(device: str = "cpu", quick: bool = False, threads: int = 1,
                       images: int = 250, **_) -> list[dict]:
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
