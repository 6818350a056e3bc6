"""Seeded subsets of a split: a fixed random draw across it, and a held-out evaluation split taken from train."""

from __future__ import annotations

from dataclasses import replace

import torch

from .base import DataBundle


def random_subset(tensors: dict[str, torch.Tensor], n: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A fixed random subset of n samples of a split (its first n would be one or two classes of a class-sorted
    split); tensors without a sample axis of that length pass through."""
    sizes = [v.shape[0] for v in tensors.values() if v.dim() > 0]
    total = sizes[0] if sizes else 0
    if n >= total:
        return tensors
    index = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[:n].sort().values
    return take_samples(tensors, index, total)


def take_samples(tensors: dict[str, torch.Tensor], index: torch.Tensor, total: int) -> dict[str, torch.Tensor]:
    """Samples ``index`` of a split of ``total`` samples; tensors without a sample axis of that length pass through."""
    return {k: (v[index] if v.dim() > 0 and v.shape[0] == total else v) for k, v in tensors.items()}


def holdout_split(data: DataBundle, n: int, seed: int = 0) -> DataBundle:
    """``data`` with a fixed random ``n`` train samples moved out as the evaluation split (the test split is
    left untouched, for choosing hyper-parameters without looking at it)."""
    train = data.train
    total = len(next(iter(v for v in train.values() if v.dim() > 0)))
    if not 0 < n < total:
        raise ValueError(f"holdout must be between 1 and {total - 1} (the train split has {total} samples; got {n})")
    order = torch.randperm(total, generator=torch.Generator().manual_seed(10_007 + seed))
    held, kept = order[:n].sort().values, order[n:].sort().values
    return replace(
        data,
        train=take_samples(train, kept, total),
        test=take_samples(train, held, total),
        description=f"{data.description} (evaluated on {n} samples held out of train)",
    )
