"""LeNet-5 as the PyTorch tutorial writes it (S3 L713-751), and S3's "Lenet" variant."""

from __future__ import annotations

import torch
from torch import nn

from .. import labels
from .._api import register_model
from ._common import MNIST_TO_TENSOR, classifier_part


class LeNet(nn.Module):
    """conv(5) → pool → conv(5) → pool → 400-120-84-N, ReLU between layers."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> None:
        super().__init__()
        if input_size not in (28, 32):
            raise ValueError("LeNet reads 32x32 images (or 28x28, padded to 32 by conv1)")
        self.conv1 = nn.Conv2d(in_channels, 6, 5, padding=(32 - input_size) // 2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.pool = nn.MaxPool2d(2)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.relu(self.conv1(x)))
        x = self.pool(self.relu(self.conv2(x)))
        x = x.flatten(1)
        x = self.relu(self.fc1(x))
        x = self.relu(self.fc2(x))
        return self.fc3(x)


@register_model(
    "lenet",
    task="image-classification",
    parts=classifier_part(1, "input_size", "input_size"),
    source="S3 L713-751 (PyTorch-tutorial LeNet), S4 L608",
    preprocessing={**MNIST_TO_TENSOR, "height": 32, "width": 32},
    labels=labels.DIGITS,
    recipes=("lenet-mnist",),
    reference_params={"model": 61_706},
)
def lenet(num_classes: int = 10, in_channels: int = 1, input_size: int = 32) -> nn.Module:
    """LeNet-5 on 1x32x32 images (the PyTorch tutorial's ``Net``).

    ``input_size=28`` reads 28x28 MNIST directly: conv1 gets padding 2, which is
    MNIST's 2-pixel pad done inside the model (same parameter count); the
    ``lenet-mnist`` recipe uses it.
    """
    return LeNet(num_classes, in_channels, input_size)


class LeNetS3(nn.Module):
    """S3's ``Lenet``: conv(3, p1) → pool → conv(5) → pool → 400-120-84-N."""

    def __init__(self, num_classes: int = 10, activations: bool = True) -> None:
        super().__init__()
        act = nn.ReLU if activations else nn.Identity
        self.layer1 = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), act(), nn.MaxPool2d(2, 2))
        self.layer2 = nn.Sequential(nn.Conv2d(6, 16, 5), act(), nn.MaxPool2d(2, 2))
        self.layer3 = nn.Sequential(nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(x))
        return self.layer3(x.flatten(1))


@register_model(
    "lenet-s3",
    task="image-classification",
    parts=classifier_part(1, 28, 28),
    source="S3 L1572-1597 (Lenet)",
    preprocessing=MNIST_TO_TENSOR,
    labels=labels.DIGITS,
    recipes=("lenet-s3-mnist",),
    reference_params={"model": 61_610},
)
def lenet_s3(num_classes: int = 10, activations: bool = True) -> nn.Module:
    """S3's LeNet variant on 1x28x28 (conv1 3x3 with padding 1).

    Seed bug fixed: the seed has no activation anywhere, which makes the whole
    network one linear map. ReLUs are added by default; ``activations=False``
    reproduces the seed exactly. Same parameter count either way.
    """
    return LeNetS3(num_classes, activations)
