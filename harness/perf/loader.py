"""Loader images/s beside training-step images/s, on the training device: CIFAR-shape uint8
images held on the device, random crop with padding 4, flip and normalisation as batched tensor
ops (harness.data.loaders), against one supernet step on the same batches."""

from __future__ import annotations

import time

import torch

from harness.perf.sections import bench_section


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


@bench_section("loader")
def loader_throughput(device: str = "cpu", quick: bool = False, images: int | None = None,
                      batch_size: int = 256, **_) -> list[dict]:
    """Loader images/s beside one supernet step's images/s on the same batches."""
    import torch.nn.functional as F

    from harness.data.loaders import TensorImageDataset, make_loader
    from harness.nets import NetConfig, build_supernet
    from harness.spaces import get_space

    device = torch.device(device)
    n = images or (4096 if quick else 20480)
    generator = torch.Generator().manual_seed(0)
    pixels = torch.randint(0, 256, (n, 3, 32, 32), generator=generator, dtype=torch.uint8)
    data = TensorImageDataset(pixels, torch.randint(0, 10, (n,), generator=generator),
                              [0.49, 0.48, 0.45], [0.25, 0.24, 0.26], 10, augment=True,
                              crop_padding=4).to(device)
    loader = make_loader(data, batch_size, shuffle=True, generator=generator, drop_last=True)
    for _ in zip(range(2), loader):  # warm-up
        pass
    _sync(device)
    start = time.perf_counter()
    seen = 0
    for x, _y in loader:
        seen += len(x)
    _sync(device)
    load_s = time.perf_counter() - start

    space = get_space("pooling")
    net = build_supernet("pooling", NetConfig(in_channels=3, input_size=32)).to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    arch = next(iter(space.enumerate()))
    steps = 3 if quick else 8
    batches = [b for _, b in zip(range(steps + 1), loader)]
    x, y = batches[0]
    optimizer.zero_grad()
    F.cross_entropy(net(x, arch), y).backward()
    _sync(device)
    start = time.perf_counter()
    for x, y in batches[1:]:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(net(x, arch), y).backward()
        optimizer.step()
    _sync(device)
    step_s = time.perf_counter() - start
    loader_rate = seen / load_s
    step_rate = steps * batch_size / step_s
    return [{"device": str(device), "images": seen, "batch": batch_size,
             "loader_images_per_s": round(loader_rate, 1),
             "train_step_images_per_s": round(step_rate, 1),
             "loader_over_step": round(loader_rate / step_rate, 2),
             "note": "pooling supernet (ResNet20) at CIFAR size; the loader keeps up when "
                     "loader_over_step > 1"}]
