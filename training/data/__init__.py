"""Datasets, loaded whole into memory as tensors (every dataset the recipes use is small).

One module per modality (``images``, ``text``, ``synthetic``), the shared ``base`` and ``batching``;
every public name is importable from ``training.data``.

Each loader returns a :class:`DataBundle`: uint8 images or ready tensors for the train and test
splits, plus what a checkpoint must remember (labels, vocabularies, preprocessing). Batches are
cut and transformed by :class:`BatchLoader` on the training device, not per sample on the CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import DataBundle, DataNotFoundError, Tensors, cache_dir, default_data_dir
from .batching import BatchLoader, epoch_generator
from .images import (
    IMAGE_SUFFIXES,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    load_image_tree,
    load_mnist,
    locate_image_tree,
    safe_extract,
)
from .photos import PhotoFolderError, describe_scan, load_photo_folder, scan_photos, write_scan
from .subsets import holdout_split, random_subset, take_samples
from .synthetic import (
    load_airline,
    load_bn_quadratic,
    load_gaussians,
    load_linear_points,
    load_logistic,
    load_none,
    load_poly,
    load_quadratic,
    load_quadratic_1000,
    load_sin_cos,
    poly_features,
)
from .text import (
    SONNET,
    load_conllu,
    load_pos_toy,
    load_sonnet,
    ngram_bundle,
    read_conllu,
    tagging_bundle,
    tagging_tensors,
)

__all__ = [
    "PhotoFolderError",
    "describe_scan",
    "load_photo_folder",
    "scan_photos",
    "write_scan",
    "holdout_split",
    "random_subset",
    "take_samples",
    "BatchLoader",
    "DataBundle",
    "DataNotFoundError",
    "IMAGE_SUFFIXES",
    "LOADERS",
    "SONNET",
    "Tensors",
    "cache_dir",
    "default_data_dir",
    "epoch_generator",
    "load_airline",
    "load_bn_quadratic",
    "load_cifar10",
    "load_conllu",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_gaussians",
    "load_image_folder",
    "load_image_tree",
    "load_linear_points",
    "load_logistic",
    "load_mnist",
    "load_none",
    "load_poly",
    "load_pos_toy",
    "load_quadratic",
    "load_quadratic_1000",
    "load_sin_cos",
    "load_sonnet",
    "locate_image_tree",
    "ngram_bundle",
    "poly_features",
    "read_conllu",
    "safe_extract",
    "tagging_bundle",
    "tagging_tensors",
]

LOADERS: dict[str, Callable[..., DataBundle]] = {
    "mnist": load_mnist,
    "fashion-mnist": load_fashion_mnist,
    "digits": load_digits,
    "cifar10": load_cifar10,
    "sonnet": load_sonnet,
    "pos-toy": load_pos_toy,
    "ud-english": load_conllu,
    "airline": load_airline,
    "sin-cos": load_sin_cos,
    "quadratic": load_quadratic,
    "quadratic-1000": load_quadratic_1000,
    "gaussians": load_gaussians,
    "linear-points": load_linear_points,
    "poly": load_poly,
    "logistic": load_logistic,
    "bn-quadratic": load_bn_quadratic,
    "none": load_none,
    "photo-folder": load_photo_folder,
}


def load_dataset(name: str, root: Path | None = None, download: bool = False, **options: Any) -> DataBundle:
    """Load dataset ``name`` from ``root`` (default: :func:`default_data_dir`)."""
    root = Path(root) if root is not None else default_data_dir()
    if name == "image-folder":
        return load_image_folder(root, **options)
    try:
        loader = LOADERS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(LOADERS))}, image-folder") from None
    return loader(root, download, **options) if name == "photo-folder" else loader(root, download)
