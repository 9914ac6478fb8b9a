"""Datasets and loaders for supernet training: `load_split(cfg, split, seed)` and `make_loader`."""

from harness.data.datasets import (
    DATASETS,
    DEBIAN_FASHION_MNIST,
    SPLITS,
    DataConfig,
    DatasetInfo,
    clear_cache,
    default_root,
    imagenet_transform,
    load_split,
    resize_images,
    user_dataset_dir,
)
from harness.data.formats import read_idx, read_imagenet16
from harness.data.loaders import (
    FolderImageDataset,
    TensorBatchLoader,
    TensorImageDataset,
    make_loader,
    random_crop_flip,
)
from harness.data.splits import split_rng, stratified_halves, stratified_subset

__all__ = [
    "DATASETS",
    "DEBIAN_FASHION_MNIST",
    "SPLITS",
    "DataConfig",
    "DatasetInfo",
    "FolderImageDataset",
    "TensorBatchLoader",
    "TensorImageDataset",
    "clear_cache",
    "default_root",
    "imagenet_transform",
    "load_split",
    "make_loader",
    "random_crop_flip",
    "read_idx",
    "read_imagenet16",
    "resize_images",
    "split_rng",
    "stratified_halves",
    "stratified_subset",
    "user_dataset_dir",
]
