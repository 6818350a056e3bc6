"""Batch transforms that run on the training device (no per-sample PIL work).

Random draws come from a generator on the batch's device (see :func:`training.data.epoch_generator`):
a small tensor copied from host memory to the GPU every batch makes the host wait for the GPU's queue.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .data import Tensors


def random_crop(x: torch.Tensor, size: int, g: torch.Generator) -> torch.Tensor:
    """An independent random ``size`` x ``size`` crop of every image in (B, C, H, W)."""
    b, _, h, w = x.shape
    oy = torch.randint(0, h - size + 1, (b,), generator=g, device=g.device).to(x.device)
    ox = torch.randint(0, w - size + 1, (b,), generator=g, device=g.device).to(x.device)
    ar = torch.arange(size, device=x.device)
    rows = (oy[:, None] + ar)[:, :, None]
    cols = (ox[:, None] + ar)[:, None, :]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return x[batch, :, rows, cols].permute(0, 3, 1, 2)


def random_flip(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Flip each image left-right with probability 0.5."""
    mask = (torch.rand(x.shape[0], generator=g, device=g.device) < 0.5).to(x.device)
    return torch.where(mask[:, None, None, None], x.flip(3), x)


def random_resized_crop(
    x: torch.Tensor, size: int, scale: Sequence[float], g: torch.Generator, ratio: tuple[float, float] = (0.75, 4 / 3)
) -> torch.Tensor:
    """torchvision's ``RandomResizedCrop`` for a whole batch: each image's own box (``scale`` of its area, aspect in
    ``ratio``) resampled to ``size`` x ``size`` in one ``roi_align`` call."""
    from torchvision.ops import roi_align

    b, _, h, w = x.shape
    area = torch.empty(b, device=g.device).uniform_(float(scale[0]), float(scale[1]), generator=g)
    log_ratio = torch.empty(b, device=g.device).uniform_(math.log(ratio[0]), math.log(ratio[1]), generator=g)
    aspect = log_ratio.exp()
    bw = (area * aspect).sqrt().mul(w).clamp(max=w)
    bh = (area / aspect).sqrt().mul(h).clamp(max=h)
    x0 = torch.rand(b, device=g.device, generator=g) * (w - bw)
    y0 = torch.rand(b, device=g.device, generator=g) * (h - bh)
    index = torch.arange(b, device=g.device, dtype=bw.dtype)
    boxes = torch.stack([index, x0, y0, x0 + bw, y0 + bh], 1).to(device=x.device, dtype=x.dtype)
    return roi_align(x, boxes, (size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)


class ImageTransform:
    """uint8 (B, C, H, W) → float, optional resize / augmentation, then ``(x - mean) / std``.

    ``augment`` keys (training only): ``resize_to`` (resize before cropping, as the seed's
    ``Resize(40)``), ``pad`` (reflect padding), ``crop`` (random crop size), ``resized_crop`` (``[low, high]``
    area fractions of a random-resized crop back to the image's size, or to ``train_scale`` times it: training
    smaller than evaluation costs less and, as random crops enlarge objects, matches the evaluation's apparent
    object size better; Touvron et al. 2019, "FixRes"), ``flip`` (bool).
    ``size`` resizes every batch to the model's input size (e.g. 32 → 224 for AlexNet).
    """

    def __init__(
        self,
        mean: Sequence[float],
        std: Sequence[float],
        *,
        size: int | None = None,
        augment: Mapping[str, Any] | None = None,
        channels_last: bool = False,
    ) -> None:
        self.mean = torch.tensor(mean, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.std = torch.tensor(std, dtype=torch.float32).reshape(1, -1, 1, 1)
        self.size = size
        self.augment = dict(augment or {})
        self.channels_last = channels_last

    def images(self, x: torch.Tensor, g: torch.Generator | None) -> torch.Tensor:
        x = x.float().div_(255)
        aug = self.augment if g is not None else {}
        if aug.get("resize_to"):
            x = F.interpolate(x, size=aug["resize_to"], mode="bilinear", antialias=True, align_corners=False)
        if aug.get("pad"):
            x = F.pad(x, [aug["pad"]] * 4, mode="reflect")
        if aug.get("crop"):
            x = random_crop(x, aug["crop"], g)  # type: ignore[arg-type]
        if aug.get("resized_crop"):
            side = round(x.shape[-1] * float(aug.get("train_scale", 1.0)))
            x = random_resized_crop(x, side, aug["resized_crop"], g)  # type: ignore[arg-type]
        if aug.get("flip"):
            x = random_flip(x, g)  # type: ignore[arg-type]
        if self.size is not None and x.shape[-1] != self.size:
            x = F.interpolate(
                x, size=self.size, mode="bilinear", antialias=x.shape[-1] > self.size, align_corners=False
            )
        if self.mean.device != x.device:  # moved once: a per-batch copy from pageable memory waits for the GPU
            self.mean, self.std = self.mean.to(x.device), self.std.to(x.device)
        x = (x - self.mean) / self.std
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def __call__(self, batch: Tensors, g: torch.Generator | None = None) -> Tensors:
        return {**batch, "x": self.images(batch["x"], g)}

    def eval(self) -> ImageTransform:
        """The same transform without augmentation."""
        return ImageTransform(
            self.mean.flatten().tolist(), self.std.flatten().tolist(), size=self.size, channels_last=self.channels_last
        )


class TrimPadding:
    """Cut a tagging batch to its longest sentence and longest word (padding is 0 / -100)."""

    def __call__(self, batch: Tensors, g: torch.Generator | None = None) -> Tensors:
        words, chars = batch["words"], batch["chars"]
        t = int((words != 0).sum(1).max().clamp(min=1))
        c = int((chars != 0).sum(2).max().clamp(min=1))
        return {"words": words[:, :t], "chars": chars[:, :t, :c], "y": batch["y"][:, :t]}
