"""Readers for on-disk formats that torchvision's dataset classes do not read from where they lie.

* IDX (MNIST / Fashion-MNIST): Debian's `dataset-fashion-mnist` installs the four raw `.gz` files
  flat in one folder, while `torchvision.datasets.FashionMNIST` wants `ROOT/FashionMNIST/raw/` with
  the files unpacked, so we parse the (tiny, well specified) format ourselves.
* NAS-Bench-201's ImageNet16 release (`train_data_batch_1..10`, `val_data`): pickled dicts.
  `pickle.load` can run arbitrary code from the file: these are files the user points us at, so
  only use copies you trust (the release itself). This reader, torchvision's CIFAR classes and
  `gt convert nb201` are the only loaders that unpickle third-party files (README, "Pickles").
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np

from harness.errors import DataFileError

# IDX type codes -> numpy dtypes (big-endian where multi-byte).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | Path) -> np.ndarray:
    """An IDX file (optionally gzipped, by the `.gz` suffix) as a numpy array.

    Format: 2 zero bytes, a type byte, a byte with the number of dims, then each dim as a
    big-endian uint32, then the data in C order.
    """
    path = Path(path)
    try:
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError
        raise DataFileError(
            f"cannot read {path}: {exc}; delete it and fetch the dataset again"
        ) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataFileError(
            f"{path} is not an IDX file (bad magic number); delete it and fetch the dataset again"
        )
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(
            f"{path} is truncated (incomplete header); delete it and fetch the dataset again"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataFileError(
            f"{path} holds {len(raw) - header} data bytes but its header says {expected}; "
            "the file is truncated or corrupt: delete it and fetch the dataset again"
        )
    return (
        np.frombuffer(raw, dtype=dtype, offset=header)
        .reshape(shape)
        .astype(dtype.newbyteorder("="))
    )


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write a uint8 array as an (uncompressed) IDX file, the inverse of `read_idx`."""
    from harness.io import atomic_write_bytes

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
    return atomic_write_bytes(Path(path), header + array.tobytes())


def write_synthetic_fashion_mnist(root: str | Path, n_train: int = 2048, n_test: int = 512,
                                  seed: int = 0) -> Path:
    """Fashion-MNIST-shaped IDX files (28x28, 10 classes) in `root`, with a class-dependent
    pattern under noise, so a supernet learns something: for machines with no dataset and no
    network (scripts/gpu_check.py, tests). Point --data-root at `root`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    templates = rng.integers(0, 256, (10, 28, 28)).astype(np.float64)
    for stem, n in (("train", n_train), ("t10k", n_test)):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        noise = rng.normal(0, 60, (n, 28, 28))
        images = np.clip(templates[labels] * 0.6 + noise + 50, 0, 255).astype(np.uint8)
        write_idx(root / f"{stem}-images-idx3-ubyte", images)
        write_idx(root / f"{stem}-labels-idx1-ubyte", labels.astype(np.uint8))
    return root


IMAGENET16_TRAIN_FILES = tuple(f"train_data_batch_{i}" for i in range(1, 11))
IMAGENET16_VAL_FILE = "val_data"


def read_imagenet16(
    folder: str | Path, train: bool, num_classes: int = 120
) -> tuple[np.ndarray, np.ndarray]:
    """NAS-Bench-201's ImageNet16-N: (images uint8 (N, 3, 16, 16), labels int64 0..num_classes-1).

    Each file is a pickled dict with 'data' (rows of 3072 uint8: the 16x16 R plane, then G, then B,
    as in CIFAR) and 'labels' (1-based ImageNet classes 1..1000). ImageNet16-120 keeps the images
    with labels 1..120 and maps them to 0..119 (as NAS-Bench-201's `ImageNet16` class does).
    Security: this unpickles files from `folder`; only point it at copies you trust.
    """
    folder = Path(folder)
    names = IMAGENET16_TRAIN_FILES if train else (IMAGENET16_VAL_FILE,)
    missing = [n for n in names if not (folder / n).is_file()]
    if missing:
        raise DataFileError(
            f"ImageNet16 file(s) {', '.join(missing)} missing under {folder}; point --data-root at "
            "NAS-Bench-201's ImageNet16 folder (train_data_batch_1..10, val_data)"
        )
    images: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    for name in names:
        path = folder / name
        try:
            with open(path, "rb") as handle:
                entry = pickle.load(handle, encoding="latin1")
            data = np.asarray(entry["data"], dtype=np.uint8)
            target = np.asarray(entry["labels"], dtype=np.int64)
        except (OSError, EOFError, pickle.UnpicklingError, KeyError, TypeError, ValueError) as exc:
            raise DataFileError(
                f"{path} is not a readable ImageNet16 batch ({type(exc).__name__}: {exc}); "
                "replace it with the file from NAS-Bench-201's release"
            ) from None
        if data.ndim != 2 or data.shape[1] != 3 * 16 * 16 or len(target) != len(data):
            raise DataFileError(
                f"{path} has data of shape {data.shape} and {len(target)} labels; expected (N, 3072) "
                "and N labels: replace it with the file from NAS-Bench-201's release"
            )
        keep = (target >= 1) & (target <= num_classes)
        images.append(data[keep].reshape(-1, 3, 16, 16))
        labels.append(target[keep] - 1)
    return np.concatenate(images), np.concatenate(labels)
