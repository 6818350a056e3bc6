"""What every dataset module shares: the bundle a loader returns, the error for a missing dataset, folders."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from zoo.errors import ZooError

Tensors = dict[str, torch.Tensor]


class DataNotFoundError(ZooError):
    """A dataset is missing; the message says where we looked and how to get it."""


@dataclass
class DataBundle:
    """Train/test tensors and everything the model and checkpoint need to know about them."""

    name: str
    train: Tensors
    test: Tensors | None
    description: str
    labels: list[str] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    #: The input preprocessing the images were prepared for (a photo folder's size and crop); overrides the recipe's.
    preprocessing: dict[str, Any] | None = None
    #: What the loader found, for the run folder (a photo folder's scan: file lists, bad images).
    found: Any = None


def default_data_dir() -> Path:
    """``$ZOO_DATA_DIR`` if set, else ``./data``."""
    return Path(os.environ.get("ZOO_DATA_DIR") or "data")


def cache_dir() -> Path:
    """Where derived files (extracted archives, tensor caches) go: ``$ZOO_CACHE_DIR`` or ~/.cache."""
    path = Path(os.environ.get("ZOO_CACHE_DIR") or Path.home() / ".cache" / "torch-model-zoo")
    path.mkdir(parents=True, exist_ok=True)
    return path
