"""In-memory datasets on the training device: batches are gathered, cropped, flipped and
normalised there, with the augmentation drawn from the loader's CPU generator, so the stream is
the same on every device and a resumed epoch continues it."""

from __future__ import annotations

import pytest
import torch

from harness.data.loaders import TensorImageDataset, draw_crop_flip, make_loader


def dataset(n: int = 64, augment: bool = True) -> TensorImageDataset:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, 12, 12), generator=g, dtype=torch.uint8)
    return TensorImageDataset(images, torch.arange(n) % 10, [0.5, 0.4, 0.3], [0.2, 0.25, 0.3], 10,
                              augment=augment, crop_padding=3)


def test_crops_and_flips_follow_the_generator():
    data = dataset()
    positions = torch.arange(16)
    x, _ = data.get_batch(positions, torch.Generator().manual_seed(5))
    rows, cols, flip = draw_crop_flip(16, 3, torch.Generator().manual_seed(5))
    padded = torch.nn.functional.pad(data.images[:16], (3, 3, 3, 3))
    for i in range(16):
        crop = padded[i, :, rows[i]:rows[i] + 12, cols[i]:cols[i] + 12]
        if flip[i]:
            crop = crop.flip(-1)
        assert torch.equal(data.normalise(crop[None])[0], x[i])
    assert 0 < int(flip.sum()) < 16 and int(rows.max()) <= 6


def test_a_resumed_generator_continues_the_same_augmentation_stream():
    data = dataset()
    generator = torch.Generator().manual_seed(11)
    loader = make_loader(data, 8, shuffle=True, generator=generator, drop_last=True)
    batches = iter(loader)
    first = [next(batches) for _ in range(3)]
    saved = generator.get_state()  # what a checkpoint of the loader's generator holds
    rest = [x for x, _ in batches]
    resumed_generator = torch.Generator()
    resumed_generator.set_state(saved)
    resumed = make_loader(data, 8, shuffle=True, generator=resumed_generator, drop_last=True)
    order = torch.randperm(64, generator=torch.Generator().manual_seed(11))
    replay = [resumed.dataset.get_batch(order[b * 8:(b + 1) * 8], resumed_generator)[0]
              for b in range(3, 8)]
    assert len(first) == 3 and all(torch.equal(a, b) for a, b in zip(rest, replay))


def test_to_the_device_it_is_on_is_the_same_view():
    data = dataset()
    assert data.to("cpu") is data and data.device.type == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_dataset_on_the_gpu_gives_the_cpu_batches():
    data = dataset()
    on_gpu = data.to("cuda")
    assert on_gpu.images.is_cuda and not data.images.is_cuda
    positions = torch.randperm(64, generator=torch.Generator().manual_seed(2))[:32]
    x_cpu, y_cpu = data.get_batch(positions, torch.Generator().manual_seed(9))
    x_gpu, y_gpu = on_gpu.get_batch(positions, torch.Generator().manual_seed(9))
    assert x_gpu.is_cuda and torch.allclose(x_gpu.cpu(), x_cpu, atol=1e-6)
    assert torch.equal(y_gpu.cpu(), y_cpu)
