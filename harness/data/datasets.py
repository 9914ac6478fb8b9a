"""Datasets for supernet training: configuration, registry, and seeded splits.

`load_split(cfg, split, seed)` returns one of
  "train"           the training set (a stratified `subset` of it when set),
  "test"            the test set (a stratified `test_subset` when set; ImageNet: the val folder),
  "supernet-train"  } the one-shot NAS papers' split of the (subset) TRAINING set: a seeded,
  "supernet-val"    } class-stratified 50/50 partition, disjoint and covering it exactly.
The same seed gives the same indices; subsets and the 50/50 partition use independent streams
derived from it (`harness.data.splits`).

Fashion-MNIST, CIFAR-10/100 and ImageNet16-120 are held in memory as uint8 tensors (read once per
process and cached; `clear_cache()` drops them) and batched by `make_loader`; ImageNet is read from
`ROOT/train` and `ROOT/val` class folders with torchvision's ImageFolder layout. Augmentation (when
`augment`) applies to "train" and "supernet-train" only: "supernet-val" and "test" are evaluation sets.
"""

from __future__ import annotations

import os
import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from harness.data.formats import read_idx, read_imagenet16
from harness.data.loaders import FolderImageDataset, TensorImageDataset
from harness.data.splits import split_rng, stratified_halves, stratified_subset
from harness.errors import DataFileError, HarnessError, did_you_mean
from harness.registry import Registry

SPLITS = ("train", "test", "supernet-train", "supernet-val")
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


@dataclass(frozen=True)
class DatasetInfo:
    """What a model and the loaders need to know about a dataset."""

    name: str
    title: str  # for messages, e.g. "CIFAR-10"
    num_classes: int
    in_channels: int
    size: int  # native image side (ImageNet: the standard 224 crop)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    crop_padding: int = 0  # random-crop zero padding at the native size (in-memory datasets)
    in_memory: bool = True


DATASETS: Registry[DatasetInfo] = Registry("dataset")
# Readers of the in-memory datasets: (root, train, cfg) -> (uint8 images (N, C, H, W), int64 labels).
_READERS: Registry[Callable[[Path, bool, DataConfig], tuple[np.ndarray, np.ndarray]]] = Registry(
    "dataset reader"
)

DATASETS.add(
    "fashion-mnist",
    DatasetInfo("fashion-mnist", "Fashion-MNIST", 10, 1, 28, (0.2860,), (0.3530,), crop_padding=2),
)
# CIFAR and ImageNet16 statistics as used by NAS-Bench-201 (Dong & Yang, 2020).
DATASETS.add(
    "cifar10",
    DatasetInfo(
        "cifar10",
        "CIFAR-10",
        10,
        3,
        32,
        tuple(x / 255 for x in (125.3, 123.0, 113.9)),
        tuple(x / 255 for x in (63.0, 62.1, 66.7)),
        crop_padding=4,
    ),
)
DATASETS.add(
    "cifar100",
    DatasetInfo(
        "cifar100",
        "CIFAR-100",
        100,
        3,
        32,
        tuple(x / 255 for x in (129.3, 124.1, 112.4)),
        tuple(x / 255 for x in (68.2, 65.4, 70.4)),
        crop_padding=4,
    ),
)
DATASETS.add(
    "imagenet16-120",
    DatasetInfo(
        "imagenet16-120",
        "ImageNet16-120",
        120,
        3,
        16,
        tuple(x / 255 for x in (122.68, 116.66, 104.01)),
        tuple(x / 255 for x in (63.22, 61.26, 65.09)),
        crop_padding=2,
    ),
)
DATASETS.add(
    "imagenet",
    DatasetInfo(
        "imagenet",
        "ImageNet",
        1000,
        3,
        224,
        (0.485, 0.456, 0.406),
        (0.229, 0.224, 0.225),
        in_memory=False,
    ),
)


def _check_positive(field: str, value: object) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise HarnessError(f"{field} must be a positive integer, got {value!r}")


@dataclass(frozen=True)
class DataConfig:
    """Which dataset to read, from where, and how much of it.

    root: dataset folder (default: `default_root(name)`). subset / test_subset: number of training /
    test images kept, stratified by class and drawn with the run seed. resize: image side after
    resizing (bilinear, antialiased). download: let torchvision fetch Fashion-MNIST / CIFAR (needs a
    network). augment: random crop + horizontal flip on the training splits (ImageNet:
    RandomResizedCrop + flip). num_workers: loader processes for ImageNet (in-memory sets need none).
    """

    name: str
    root: str | None = None
    subset: int | None = None
    test_subset: int | None = None
    resize: int | None = None
    download: bool = False
    augment: bool = False
    num_workers: int = 0

    def __post_init__(self) -> None:
        DATASETS.get(self.name)  # an UnknownNameError with a suggestion for a typo
        _check_positive("subset", self.subset)
        _check_positive("test_subset", self.test_subset)
        _check_positive("resize", self.resize)
        if (
            isinstance(self.num_workers, bool)
            or not isinstance(self.num_workers, int)
            or self.num_workers < 0
        ):
            raise HarnessError(
                f"num_workers must be a non-negative integer, got {self.num_workers!r}"
            )

    @property
    def info(self) -> DatasetInfo:
        return DATASETS.get(self.name)

    @property
    def image_size(self) -> int:
        return self.resize or self.info.size

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of the batches `make_loader` yields."""
        return (self.info.in_channels, self.image_size, self.image_size)

    @property
    def num_classes(self) -> int:
        """The registered class count (ImageNet folders: the dataset's `.num_classes` counts its
        class subfolders, which is what a model needs)."""
        return self.info.num_classes

    def resolved_root(self) -> Path:
        return Path(os.path.expanduser(self.root)) if self.root else default_root(self.name)


def user_dataset_dir() -> Path:
    """`<user cache>/datasets` (`$XDG_CACHE_HOME/nas-harness/datasets` on Linux)."""
    from harness.io import user_cache_dir

    return user_cache_dir() / "datasets"


def default_root(name: str) -> Path:
    """Fashion-MNIST: Debian's /usr/share/datasets/fashion-mnist when present; otherwise (and for every
    other dataset) the user dataset cache (ImageNet16-120: its `ImageNet16` subfolder; ImageNet:
    its `imagenet` subfolder)."""
    DATASETS.get(name)
    if name == "fashion-mnist" and (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").is_file():
        return DEBIAN_FASHION_MNIST
    if name == "imagenet16-120":
        return user_dataset_dir() / "ImageNet16"
    if name == "imagenet":
        return user_dataset_dir() / "imagenet"
    return user_dataset_dir()


def _not_found(title: str, root: Path, extra: str = "") -> DataFileError:
    return DataFileError(
        f"{title} not found under {root}; pass --download (needs a network) or point --data-root at an "
        f"existing copy{extra}"
    )


# ---------------------------------------------------------------- readers of in-memory datasets


_FMNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(root: Path, stem: str) -> Path | None:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    return None


def _fmnist_offline(roots: list[Path], reason: str) -> DataFileError:
    where = " or ".join(str(r) for r in dict.fromkeys(roots))
    return DataFileError(
        f"Fashion-MNIST not found in {where} and downloading it failed ({reason}): install "
        f"Debian's package (apt-get install dataset-fashion-mnist, files in "
        f"{DEBIAN_FASHION_MNIST}) or put its four IDX files in --data-root")


@_READERS.register("fashion-mnist")
def _read_fashion_mnist(root: Path, train: bool, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """Fashion-MNIST from, in order: the raw IDX files flat in `root` or in Debian's folder
    (dataset-fashion-mnist, gzipped or not; parsed directly, since torchvision's FashionMNIST only
    reads `root/FashionMNIST/raw/`); torchvision's own layout under `root`; else a download
    through torchvision into `root`, with no flag needed (torchvision checks each archive's MD5
    and shows a progress bar). Offline, one line says which package or folder provides it."""
    image_stem, label_stem = _FMNIST_FILES[train]
    for folder in dict.fromkeys([root, DEBIAN_FASHION_MNIST]):
        image_file, label_file = _find_idx(folder, image_stem), _find_idx(folder, label_stem)
        if image_file is not None and label_file is not None:
            images, labels = read_idx(image_file), read_idx(label_file)
            break
    else:
        from torchvision.datasets import FashionMNIST

        have = (root / "FashionMNIST" / "raw").is_dir()
        if not have:
            print(f"Fashion-MNIST not found in {root} or {DEBIAN_FASHION_MNIST}; downloading it "
                  f"into {root} through torchvision (MD5-checked)", file=sys.stderr, flush=True)
        try:
            dataset = FashionMNIST(str(root), train=train, download=True)
        except (RuntimeError, OSError, ValueError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
            raise _fmnist_offline([root, DEBIAN_FASHION_MNIST], reason[:200]) from None
        images, labels = dataset.data.numpy(), dataset.targets.numpy()
    if images.ndim != 3 or labels.shape != (images.shape[0],):
        raise DataFileError(
            f"Fashion-MNIST files under {root} hold images {images.shape} and labels {labels.shape}; "
            "expected (N, 28, 28) and (N,): delete them and fetch the dataset again"
        )
    return images[:, None], labels.astype(np.int64)


def _read_cifar(
    root: Path, train: bool, cfg: DataConfig, hundred: bool
) -> tuple[np.ndarray, np.ndarray]:
    from torchvision.datasets import CIFAR10, CIFAR100

    cls = CIFAR100 if hundred else CIFAR10
    title = "CIFAR-100" if hundred else "CIFAR-10"
    if not cfg.download and not (root / cls.base_folder).is_dir():
        raise _not_found(title, root)
    try:
        dataset = cls(str(root), train=train, download=cfg.download)
    except RuntimeError:
        raise DataFileError(
            f"{title} under {root / cls.base_folder} is incomplete or corrupt (checksum mismatch); delete it "
            "and pass --download, or point --data-root at a good copy"
        ) from None
    except OSError as exc:
        raise DataFileError(
            f"downloading {title} to {root} failed ({exc}); check the network or point --data-root at an existing copy"
        ) from None
    images = np.ascontiguousarray(np.asarray(dataset.data, dtype=np.uint8).transpose(0, 3, 1, 2))
    return images, np.asarray(dataset.targets, dtype=np.int64)


@_READERS.register("cifar10")
def _read_cifar10(root: Path, train: bool, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    return _read_cifar(root, train, cfg, hundred=False)


@_READERS.register("cifar100")
def _read_cifar100(root: Path, train: bool, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    return _read_cifar(root, train, cfg, hundred=True)


@_READERS.register("imagenet16-120")
def _read_imagenet16_120(root: Path, train: bool, cfg: DataConfig) -> tuple[np.ndarray, np.ndarray]:
    """NAS-Bench-201's ImageNet16 files in `root` (or `root/ImageNet16`); these are unpickled, so
    only point --data-root at copies you trust. There is no download."""
    folder = root
    if not (folder / "val_data").is_file() and (root / "ImageNet16" / "val_data").is_file():
        folder = root / "ImageNet16"
    if not folder.is_dir() or not any(folder.iterdir()):
        raise DataFileError(
            f"ImageNet16-120 not found under {root}; there is no download: point --data-root at "
            "NAS-Bench-201's ImageNet16 folder (train_data_batch_1..10, val_data)"
        )
    return read_imagenet16(folder, train=train, num_classes=120)


def resize_images(images: torch.Tensor, size: int, chunk: int = 4096) -> torch.Tensor:
    """uint8 NCHW -> uint8 N x C x size x size, bilinear with antialiasing, rounded (as PIL does)."""
    if images.shape[-2:] == (size, size):
        return images
    out = torch.empty((images.shape[0], images.shape[1], size, size), dtype=torch.uint8)
    for start in range(0, images.shape[0], chunk):
        part = images[start : start + chunk].to(torch.float32)
        part = F.interpolate(
            part, size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        out[start : start + chunk] = part.round_().clamp_(0, 255).to(torch.uint8)
    return out


# In-process cache of what has been read: (name, root, train, resize) -> (images, labels).
_CACHE: OrderedDict[tuple, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
_CACHE_SIZE = 6


def clear_cache() -> None:
    """Forget the in-memory datasets read so far (the next load_split reads the files again)."""
    _CACHE.clear()


def _load_tensors(cfg: DataConfig, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    root = cfg.resolved_root()
    key = (cfg.name, str(root.resolve()), train, cfg.resize)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    images_np, labels_np = _READERS.get(cfg.name)(root, train, cfg)
    images = torch.from_numpy(np.ascontiguousarray(images_np, dtype=np.uint8))
    labels = torch.from_numpy(np.asarray(labels_np, dtype=np.int64))
    info = cfg.info
    if images.shape[1:] != (info.in_channels, info.size, info.size):
        raise DataFileError(
            f"{info.title} under {root} has images of shape {tuple(images.shape[1:])}, expected "
            f"{(info.in_channels, info.size, info.size)}; point --data-root at a correct copy"
        )
    bad = (labels < 0) | (labels >= info.num_classes)
    if bool(bad.any()):
        raise DataFileError(
            f"{info.title} under {root} has labels outside 0..{info.num_classes - 1}; point --data-root at a correct copy"
        )
    if cfg.resize:
        images = resize_images(images, cfg.resize)
    _CACHE[key] = (images, labels)
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return images, labels


# ---------------------------------------------------------------- ImageNet folders


_FOLDER_CACHE: dict[str, tuple[list[str], list[tuple[str, int]]]] = {}


def _scan_folder(path: Path, title: str) -> tuple[list[str], list[tuple[str, int]]]:
    key = str(path.resolve())
    if key not in _FOLDER_CACHE:
        from torchvision.datasets import ImageFolder

        if not path.is_dir():
            raise DataFileError(
                f"{title} not found: {path} is not a folder; point --data-root at a folder with train/ and "
                "val/ holding one subfolder of images per class (there is no download)"
            )
        try:
            folder = ImageFolder(str(path))
        except (FileNotFoundError, OSError) as exc:
            raise DataFileError(
                f"{title} under {path} is not an image folder ({exc}); expected one subfolder of images per class"
            ) from None
        _FOLDER_CACHE[key] = (folder.classes, folder.samples)
    return _FOLDER_CACHE[key]


def imagenet_transform(size: int, train: bool, info: DatasetInfo):
    """torchvision's standard ImageNet transforms at crop `size` (224 by default): RandomResizedCrop +
    flip for training, Resize(size * 256/224) + CenterCrop for evaluation; then ToTensor + Normalize."""
    from torchvision import transforms as T

    if train:
        head = [T.RandomResizedCrop(size), T.RandomHorizontalFlip()]
    else:
        head = [T.Resize(round(size * 256 / 224)), T.CenterCrop(size)]
    return T.Compose([*head, T.ToTensor(), T.Normalize(info.mean, info.std)])


def _imagenet_samples(cfg: DataConfig, train: bool) -> tuple[list[str], list[tuple[str, int]]]:
    root = cfg.resolved_root()
    title = cfg.info.title
    classes, samples = _scan_folder(root / ("train" if train else "val"), title)
    if not train:
        train_classes, _ = _scan_folder(root / "train", title)
        if classes != train_classes:
            raise DataFileError(
                f"{title} under {root}: val/ has {len(classes)} class folders that differ from train/'s "
                f"{len(train_classes)}; both need the same class subfolders"
            )
    return classes, samples


# ---------------------------------------------------------------- splits


def load_split(cfg: DataConfig, split: str, seed: int) -> Dataset:
    """The dataset for `split` (one of SPLITS) under `cfg`, with subsets and halves drawn from `seed`.

    Returns a TensorImageDataset (in-memory sets) or FolderImageDataset (ImageNet); both expose
    `.indices` (positions in the full split as read from disk, sorted), `.targets` and `.num_classes`.
    """
    if split not in SPLITS:
        raise HarnessError(
            f"unknown split '{split}'{did_you_mean(split, SPLITS)}; known: {', '.join(SPLITS)}"
        )
    info = cfg.info
    train_side = split != "test"
    augment = cfg.augment and split in ("train", "supernet-train")
    if info.in_memory:
        images, labels_t = _load_tensors(cfg, train_side)
        labels = labels_t.numpy()
    else:
        classes, samples = _imagenet_samples(cfg, train_side)
        labels = np.fromiter((s[1] for s in samples), dtype=np.int64, count=len(samples))

    n_keep = cfg.subset if train_side else cfg.test_subset
    if n_keep is None:
        indices = np.arange(len(labels))
    else:
        stream = "subset-train" if train_side else "subset-test"
        try:
            indices = stratified_subset(labels, n_keep, split_rng(seed, stream))
        except HarnessError as exc:
            raise HarnessError(
                f"{info.title} {('train' if train_side else 'test')} {exc}"
            ) from None
    if split in ("supernet-train", "supernet-val"):
        first, second = stratified_halves(labels[indices], split_rng(seed, "supernet-halves"))
        indices = indices[first if split == "supernet-train" else second]
    else:
        split_rng(seed, "supernet-halves")  # validates the seed for every split alike
    index_t = torch.from_numpy(np.ascontiguousarray(indices, dtype=np.int64))

    if info.in_memory:
        padding = round(info.crop_padding * cfg.image_size / info.size)
        return TensorImageDataset(
            images,
            labels_t,
            info.mean,
            info.std,
            info.num_classes,
            index_t,
            augment=augment,
            crop_padding=padding,
        )
    return FolderImageDataset(
        samples,
        imagenet_transform(cfg.image_size, augment, info),
        num_classes=len(classes),
        indices=index_t,
    )
