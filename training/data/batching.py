"""Batches cut from in-memory tensors on the training device, with a reproducible order per epoch."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping

import torch

from .base import Tensors

# --------------------------------------------------------------------------- batching


def epoch_generator(seed: int, epoch: int, stream: int = 0, device: torch.device | str = "cpu") -> torch.Generator:
    """The RNG of one epoch's data order and augmentation: a pure function of (seed, epoch), so a
    resumed run sees exactly the batches an uninterrupted one would. ``device``: where it draws (a
    CUDA generator's draws differ from a CPU one's, and stay on the GPU)."""
    return torch.Generator(device=device).manual_seed((seed * 1_000_003 + epoch * 7_919 + stream) % (2**63))


class BatchLoader:
    """Cuts in-memory tensors into batches on ``device`` and applies a batch transform.

    ``shuffle`` draws the order from :func:`epoch_generator`; ``rank``/``world`` shard it for DDP
    exactly like :class:`torch.utils.data.DistributedSampler` (padding to equal shards).
    """

    def __init__(
        self,
        tensors: Mapping[str, torch.Tensor],
        batch_size: int,
        *,
        shuffle: bool = False,
        drop_last: bool = False,
        device: torch.device | str = "cpu",
        transform: Callable[[Tensors, torch.Generator | None], Tensors] | None = None,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
    ) -> None:
        self.device = torch.device(device)
        self.tensors = {k: v.to(self.device) for k, v in tensors.items() if v.dim() > 0}
        self.n = len(next(iter(self.tensors.values())))
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.transform = transform
        self.seed = seed
        self.rank, self.world = rank, world

    def _indices(self, epoch: int) -> torch.Tensor:
        if self.world > 1:
            from torch.utils.data import DistributedSampler

            sampler: DistributedSampler = DistributedSampler(
                range(self.n),  # type: ignore[arg-type]  # a sized range is all the sampler reads num_replicas=self.world, rank=self.rank, shuffle=self.shuffle, seed=self.seed
            )
            sampler.set_epoch(epoch)
            return torch.tensor(list(sampler))
        if self.shuffle:
            return torch.randperm(self.n, generator=epoch_generator(self.seed, epoch))
        return torch.arange(self.n)

    def __len__(self) -> int:
        per_rank = math.ceil(self.n / self.world) if self.world > 1 else self.n
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def batches(self, epoch: int = 0, start: int = 0) -> Iterator[Tensors]:
        """Batches of ``epoch`` from batch number ``start`` on.

        Each batch's augmentation draws from its own generator (seeded by epoch and batch index),
        so skipping batches on resume changes nothing that follows.
        """
        order = self._indices(epoch).to(self.device)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = {k: v[idx] for k, v in self.tensors.items()}
            if self.transform is not None:
                batch = self.transform(batch, epoch_generator(self.seed, epoch, stream=1 + b, device=self.device))
            yield batch

    def __iter__(self) -> Iterator[Tensors]:
        return self.batches(0)
