"""S3's SimpleCNN (S3 L1475-1513)."""

from __future__ import annotations

import torch
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_HALF, classifier_part


class SimpleCNN(nn.Module):
    """Three conv(3, p1)-ReLU-pool stages (32, 64, 128 channels), then 2048-512-64-N."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, 1, padding=1), nn.ReLU(True), nn.MaxPool2d(2, 2))

        self.layer1 = stage(in_channels, 32)
        self.layer2 = stage(32, 64)
        self.layer3 = stage(64, 128)
        self.layer4 = nn.Sequential(
            nn.Linear(2048, 512), nn.ReLU(True), nn.Linear(512, 64), nn.ReLU(True), nn.Linear(64, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.layer4(x.flatten(1))


@register_model(
    "simple-cnn",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="S3 L1475-1513",
    preprocessing=CIFAR_HALF,
    labels=labels.CIFAR10,
    recipes=("simple-cnn-cifar10",),
    reference_params={"model": 1_175_818},
)
def simple_cnn(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """A three-stage CNN for 3x32x32 images.

    Seed bug fixed: ``forward`` called ``slef.layer4`` (a NameError).
    """
    return SimpleCNN(num_classes, in_channels)
