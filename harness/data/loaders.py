"""In-memory image datasets and loaders whose randomness comes only from an explicit generator.

Small datasets (Fashion-MNIST, CIFAR, ImageNet16) are held as one uint8 NCHW tensor shared by all
splits (a split is an index tensor into it). A batch is gathered, augmented (random crop with zero
padding + horizontal flip, drawn from the loader's `torch.Generator`) and normalised in a few
vectorised ops, so no per-image Python or PIL work is done. uint8 keeps memory at a quarter of
float32; it is also exactly what torchvision's PIL pipeline sees.

`make_loader` never touches the global RNGs: shuffling and augmentation draw from the generator
passed in; datasets that transform per item (the ImageNet folder) get a per-item seed drawn from it,
and run their transforms under a forked global RNG, so results do not depend on num_workers.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, Sampler

Batch = tuple[torch.Tensor, torch.Tensor]


def draw_crop_flip(
    n: int, padding: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(row offsets, column offsets, flips) of `n` images, drawn in this order from `generator`
    (offsets only when padding > 0). Drawn for a whole global batch, so that every data-parallel
    rank (which augments only its slice) consumes the generator as a single process does."""
    if padding > 0:
        rows = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
        cols = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    else:
        rows = cols = torch.zeros(n, dtype=torch.int64)
    flip = torch.rand(n, generator=generator) < 0.5
    return rows, cols, flip


def apply_crop_flip(images: torch.Tensor, padding: int, rows: torch.Tensor, cols: torch.Tensor,
                    flip: torch.Tensor) -> torch.Tensor:
    """Crop (after zero padding) and flip each image as drawn by `draw_crop_flip`, on the
    images' own device (the small index tensors are moved there)."""
    n, c, h, w = images.shape
    hp, wp = h + 2 * padding, w + 2 * padding
    device = images.device
    rows, cols, flip = rows.to(device), cols.to(device), flip.to(device)
    if padding > 0:
        images = F.pad(images, (padding, padding, padding, padding))
    # One gather from the flattened padded planes; the flip is folded into the column index.
    across = torch.arange(w, device=device)
    col_index = cols[:, None] + torch.where(flip[:, None], across.flip(0), across)  # (n, w)
    row_index = rows[:, None] + torch.arange(h, device=device)  # (n, h)
    flat = (
        (row_index[:, :, None] * wp + col_index[:, None, :]).view(n, 1, h * w).expand(n, c, h * w)
    )
    return images.reshape(n, c, hp * wp).gather(2, flat).view(n, c, h, w)


def random_crop_flip(
    images: torch.Tensor, padding: int, generator: torch.Generator
) -> torch.Tensor:
    """Per-image random crop (zero padding `padding` on each side) and horizontal flip (p = 0.5).

    Same distribution as torchvision's RandomCrop(size, padding) + RandomHorizontalFlip() applied to
    each image, but vectorised over the batch. Draws, in order: row offsets and column offsets (only
    when padding > 0), then flips.
    """
    return apply_crop_flip(images, padding, *draw_crop_flip(images.shape[0], padding, generator))


def shard_slice(n: int, shard: tuple[int, int] | None) -> slice:
    """The part of a global batch of `n` items that data-parallel rank `shard[0]` of `shard[1]`
    reads: equal contiguous slices (n must divide evenly)."""
    if shard is None or shard[1] == 1:
        return slice(0, n)
    rank, world = shard
    if n % world:
        raise ValueError(f"a batch of {n} items does not split evenly over {world} ranks")
    part = n // world
    return slice(rank * part, (rank + 1) * part)


class TensorImageDataset(Dataset):
    """A TensorDataset-like view of in-memory uint8 images: items are (x float32 CHW normalised, y int64).

    `images` (N, C, H, W) uint8 and `labels` (N,) int64 are the whole split as read from disk and may be
    shared with other views (never modified in place); `indices` selects this view's items, in order.
    Augmentation (when `augment`) is applied per batch by `get_batch` with an explicit generator, i.e.
    through `make_loader`; `__getitem__` returns the plain, un-augmented item.
    """

    def __init__(
        self,
        images: torch.Tensor,
        labels: torch.Tensor,
        mean: Sequence[float],
        std: Sequence[float],
        num_classes: int,
        indices: torch.Tensor | None = None,
        augment: bool = False,
        crop_padding: int = 0,
    ):
        if images.dtype != torch.uint8 or images.ndim != 4:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        if labels.shape != (images.shape[0],):
            raise ValueError(
                f"labels must have shape ({images.shape[0]},), got {tuple(labels.shape)}"
            )
        if len(mean) != images.shape[1] or len(std) != images.shape[1]:
            raise ValueError(f"mean/std need {images.shape[1]} channel values")
        self.images = images
        self.labels = labels.to(torch.int64)
        self.indices = (
            torch.arange(images.shape[0])
            if indices is None
            else torch.as_tensor(indices, dtype=torch.int64)
        )
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.num_classes = int(num_classes)
        self.augment = bool(augment)
        self.crop_padding = int(crop_padding)
        std_t = torch.tensor(self.std).view(1, -1, 1, 1)
        self._scale = 1.0 / (255.0 * std_t)
        self._shift = torch.tensor(self.mean).view(1, -1, 1, 1) / std_t

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def targets(self) -> torch.Tensor:
        """Labels of this view's items, in order."""
        return self.labels[self.indices]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def normalise(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 NCHW -> float32 NCHW, (x / 255 - mean) / std per channel."""
        return images.to(torch.float32).mul_(self._scale).sub_(self._shift)

    def to(self, device: torch.device | str) -> TensorImageDataset:
        """This view with its images and labels held on `device` (e.g. CIFAR on the GPU): batches
        are then gathered, augmented and normalised there, with no host-to-device copy per step.
        The augmentation draws still come from the loader's CPU generator, so the stream is the
        same on every device and a resumed run continues it."""
        device = torch.device(device)
        if self.images.device == device:
            return self
        moved = TensorImageDataset.__new__(TensorImageDataset)
        moved.__dict__.update(self.__dict__)
        moved.images, moved.labels = self.images.to(device), self.labels.to(device)
        moved._scale, moved._shift = self._scale.to(device), self._shift.to(device)
        return moved

    @property
    def device(self) -> torch.device:
        return self.images.device

    def get_batch(self, positions: torch.Tensor, generator: torch.Generator | None = None,
                  shard: tuple[int, int] | None = None) -> Batch:
        """Items at `positions` (into this view) as (x float32 NCHW, y int64); augmented when the
        view's `augment` flag is on, which then needs `generator`. With `shard` (rank, world),
        only that rank's slice of the batch, augmented as in the whole batch."""
        positions = torch.as_tensor(positions, dtype=torch.int64)
        part = shard_slice(len(positions), shard)
        draws = None
        if self.augment:
            if generator is None:
                raise ValueError(
                    "this dataset augments: get_batch needs an explicit torch.Generator"
                )
            draws = draw_crop_flip(len(positions), self.crop_padding, generator)
        idx = self.indices[positions[part]].to(self.images.device)
        x = self.images[idx]
        if draws is not None:
            x = apply_crop_flip(x, self.crop_padding, *(d[part] for d in draws))
        return self.normalise(x), self.labels[idx]

    def __getitem__(self, i: int) -> Batch:
        if not -len(self) <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        idx = self.indices[i]
        return self.normalise(self.images[idx][None])[0], self.labels[idx]

    def __repr__(self) -> str:
        return (
            f"TensorImageDataset({len(self)} of {self.images.shape[0]} images {tuple(self.images.shape[1:])}, "
            f"{self.num_classes} classes, augment={self.augment})"
        )


class FolderImageDataset(Dataset):
    """Image files decoded per item: `samples` is a list of (path, label); items are
    (transform(PIL RGB image), int label). `indices` holds the positions of `samples` kept."""

    def __init__(
        self,
        samples: Sequence[tuple[str, int]],
        transform: Callable,
        num_classes: int,
        indices: torch.Tensor | None = None,
        loader: Callable | None = None,
    ):
        self.samples = samples
        self.transform = transform
        self.num_classes = int(num_classes)
        self.indices = (
            torch.arange(len(samples))
            if indices is None
            else torch.as_tensor(indices, dtype=torch.int64)
        )
        if loader is None:
            from torchvision.datasets.folder import default_loader

            loader = default_loader
        self.loader = loader

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def targets(self) -> torch.Tensor:
        return torch.tensor([self.samples[int(i)][1] for i in self.indices], dtype=torch.int64)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        path, label = self.samples[int(self.indices[i])]
        return self.transform(self.loader(path)), label

    def __repr__(self) -> str:
        return f"FolderImageDataset({len(self)} of {len(self.samples)} images, {self.num_classes} classes)"


class TensorBatchLoader:
    """Batches of a TensorImageDataset; each `iter()` is one epoch drawn from `generator`."""

    def __init__(
        self,
        dataset: TensorImageDataset,
        batch_size: int,
        shuffle: bool,
        generator: torch.Generator,
        drop_last: bool = False,
        shard: tuple[int, int] | None = None,
    ):
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        self.shard = shard  # (rank, world): each batch is the rank's slice of the global batch

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self) -> Iterator[Batch]:
        # The epoch's order is drawn now, not at the first next(), so the generator is consumed in
        # a predictable place.
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else torch.arange(n)
        return self._batches(order)

    def _batches(self, order: torch.Tensor) -> Iterator[Batch]:
        for b in range(len(self)):
            yield self.dataset.get_batch(
                order[b * self.batch_size : (b + 1) * self.batch_size], self.generator, self.shard
            )


class PlannedBatchLoader(TensorBatchLoader):
    """Batches of a TensorImageDataset in a given order (repeats allowed), yielding
    (x, y, positions): importance-sampled epochs, whose losses are weighted per item."""

    def __init__(self, dataset: TensorImageDataset, batch_size: int, order: Sequence[int],
                 generator: torch.Generator, drop_last: bool = True,
                 shard: tuple[int, int] | None = None):
        super().__init__(dataset, batch_size, False, generator, drop_last, shard)
        self.order = torch.as_tensor(np.asarray(order), dtype=torch.int64)
        if self.order.ndim != 1 or (len(self.order) and (
                int(self.order.min()) < 0 or int(self.order.max()) >= len(dataset))):
            raise ValueError(f"order must be positions in 0..{len(dataset) - 1}")

    def __len__(self) -> int:
        n = len(self.order)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        for b in range(len(self)):
            positions = self.order[b * self.batch_size : (b + 1) * self.batch_size]
            x, y = self.dataset.get_batch(positions, self.generator, self.shard)
            yield x, y, positions[shard_slice(len(positions), self.shard)]


class _SeededBatchSampler(Sampler):
    """Yields batches of (index, seed): the epoch's order and one seed per item from `generator`."""

    def __init__(
        self, n: int, batch_size: int, shuffle: bool, generator: torch.Generator, drop_last: bool,
        shard: tuple[int, int] | None = None,
    ):
        self.n, self.batch_size, self.shuffle = n, batch_size, shuffle
        self.generator, self.drop_last, self.shard = generator, drop_last, shard

    def __len__(self) -> int:
        return self.n // self.batch_size if self.drop_last else math.ceil(self.n / self.batch_size)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        # A generator function: nothing is drawn until the first batch is asked for. A multi-worker
        # DataLoader calls iter() on its sampler twice per epoch and uses only the second iterator;
        # drawing eagerly would consume the generator twice and depend on num_workers.
        order = (
            torch.randperm(self.n, generator=self.generator)
            if self.shuffle
            else torch.arange(self.n)
        )
        seeds = torch.randint(0, 2**62, (self.n,), generator=self.generator)
        pairs = list(zip(order.tolist(), seeds.tolist()))
        for b in range(len(self)):
            batch = pairs[b * self.batch_size : (b + 1) * self.batch_size]
            # Items carry their own seeds, so a rank's slice is augmented as in the whole batch.
            yield batch[shard_slice(len(batch), self.shard)]


class _SeededItems(Dataset):
    """Runs `dataset[index]` with the global torch and Python RNGs seeded from the item's seed and
    restored afterwards, so random per-item transforms are reproducible and leave no trace."""

    def __init__(self, dataset: Dataset):
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]):
        index, seed = key
        py_state = random.getstate()
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                random.seed(seed)
                return self.dataset[index]
        finally:
            random.setstate(py_state)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    generator: torch.Generator,
    drop_last: bool = False,
    num_workers: int = 0,
    shard: tuple[int, int] | None = None,
) -> TensorBatchLoader | DataLoader:
    """An iterable of (x float32 NCHW normalised, y int64) batches; each pass is one epoch.

    All randomness (order, augmentation, per-item transforms) is drawn from `generator`, never from
    the global RNGs, so two loaders whose generators start in the same state yield the same batches.
    In-memory datasets are batched directly (num_workers is ignored: there is no decoding to do);
    others go through a torch DataLoader with `num_workers` processes. With `shard` (rank, world),
    each batch is that data-parallel rank's slice of the global batch of `batch_size` items.
    """
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"make_loader needs an explicit torch.Generator, got {type(generator).__name__}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if isinstance(dataset, TensorImageDataset):
        return TensorBatchLoader(dataset, batch_size, shuffle, generator, drop_last, shard)
    sampler = _SeededBatchSampler(len(dataset), batch_size, shuffle, generator, drop_last,  # type: ignore[arg-type]
                                  shard)
    return DataLoader(
        _SeededItems(dataset),
        batch_sampler=sampler,
        num_workers=num_workers,
        # DataLoader draws a worker base seed from `generator` (or else the global RNG) on every
        # iter(); items are seeded by the sampler, so give it a private generator of its own.
        generator=torch.Generator().manual_seed(0),
        persistent_workers=False,
    )
