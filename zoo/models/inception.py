"""A small GoogLeNet-style network built from S3's Inception block (S3 L1702-1740)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_HALF, classifier_part


class BasicConv2d(nn.Module):
    """Conv (no bias) → BatchNorm (eps 0.001) → ReLU."""

    def __init__(self, in_channels: int, out_channels: int, **kwargs: Any) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, bias=False, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


class InceptionBlock(nn.Module):
    """Four branches concatenated: 1x1; 1x1→5x5; 1x1→3x3→3x3; avg-pool→1x1.

    Output channels: 64 + 64 + 96 + ``pool_features``.
    """

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch5x5_1 = BasicConv2d(in_channels, 48, kernel_size=1)
        self.branch5x5_2 = BasicConv2d(48, 64, kernel_size=5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(in_channels, 64, kernel_size=1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, kernel_size=3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, kernel_size=3, padding=1)
        self.branch_pool = BasicConv2d(in_channels, pool_features, kernel_size=1)
        self.out_channels = 224 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1 = self.branch1x1(x)
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        bp = self.branch_pool(F.avg_pool2d(x, kernel_size=3, stride=1, padding=1))
        return torch.cat([b1, b5, b3, bp], 1)


class InceptionNet(nn.Module):
    """Stem 3→64→192 (3x3) at 32x32; blocks (192,32)→256, (256,64)→288; pool to 16x16;
    blocks (288,64)→288, (288,128)→352; pool to 8x8; global average pool; Linear(352, N)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            BasicConv2d(in_channels, 64, kernel_size=3, padding=1),
            BasicConv2d(64, 192, kernel_size=3, padding=1),
        )
        self.stage1 = nn.Sequential(InceptionBlock(192, 32), InceptionBlock(256, 64))
        self.stage2 = nn.Sequential(InceptionBlock(288, 64), InceptionBlock(288, 128))
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(352, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stage1(self.stem(x)))
        x = self.pool(self.stage2(x))
        return self.fc(self.avgpool(x).flatten(1))


@register_model(
    "inception",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="S3 L1702-1740 (block only; network layout is ours)",
    preprocessing=CIFAR_HALF,
    labels=labels.CIFAR10,
    recipes=("inception-cifar10",),
    reference_params={"model": 1_238_602},
)
def inception(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """A GoogLeNet-style CIFAR network of four of the seed's Inception blocks.

    The seed defines only ``BasicConv2d`` and the block (Inception-v3's "A" block).
    Layout (ours, documented): stem Conv3x3(3→64) and Conv3x3(64→192), each
    BasicConv2d, at 32x32; blocks (192, pool 32)→256 and (256, 64)→288; max-pool
    3/2 → 16x16; blocks (288, 64)→288 and (288, 128)→352; max-pool → 8x8; global
    average pool; Linear(352, N). 1,238,602 parameters for N=10.
    """
    return InceptionNet(num_classes, in_channels)
