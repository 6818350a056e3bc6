"""AlexNet (S3 L1602-1634)."""

from __future__ import annotations

import torch
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_HALF, classifier_part


class AlexNet(nn.Module):
    """Five convolutions, three max-pools, three fully connected layers with dropout."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(),
            nn.Linear(256 * 6 * 6, 4096),
            nn.ReLU(inplace=True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(inplace=True),
            nn.Linear(4096, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))


@register_model(
    "alexnet",
    task="image-classification",
    parts=classifier_part(3, 224, 224),
    source="S3 L1602-1634",
    preprocessing={**CIFAR_HALF, "height": 224, "width": 224},
    labels=labels.CIFAR10,
    recipes=("alexnet-cifar10",),
    reference_params={"model": 57_044_810},
)
def alexnet(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """AlexNet exactly as the seed defines it, for 3x224x224 input.

    Departure: an ``AdaptiveAvgPool2d(6)`` (no parameters; the identity at 224x224)
    sits between features and classifier, as in torchvision, so any input of at
    least 63x63 works. A 32x32 image collapses before the last pool, so the
    ``alexnet-cifar10`` recipe resizes CIFAR-10 to 224x224 as the seed intends.
    """
    return AlexNet(num_classes, in_channels)
