"""S3's CIFAR ResNet (S3 L1916-1982) and an opt-in standard ResNet-18."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_HALF, classifier_part


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


class ResidualBlock(nn.Module):
    """The seed's ``residual_block``: conv-bn-relu-conv-bn-relu, plus a 1x1 conv
    shortcut (with bias, no BN) when the shape changes; returns ReLU(x + out)."""

    def __init__(self, in_channels: int, out_channels: int, same_shape: bool = True) -> None:
        super().__init__()
        stride = 1 if same_shape else 2
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv3 = None if same_shape else nn.Conv2d(in_channels, out_channels, 1, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), True)
        out = F.relu(self.bn2(self.conv2(out)), True)
        if self.conv3 is not None:
            x = self.conv3(x)
        return F.relu(x + out, True)


class SeedResNet(nn.Module):
    """7x7/2 stem conv → max-pool 3/1 → four stages of two residual blocks → avg-pool 2 → Linear."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.block1 = nn.Conv2d(in_channels, 64, 7, 2, 3)
        self.block2 = nn.Sequential(nn.MaxPool2d(3, 1), ResidualBlock(64, 64), ResidualBlock(64, 64))
        self.block3 = nn.Sequential(ResidualBlock(64, 128, False), ResidualBlock(128, 128))
        self.block4 = nn.Sequential(ResidualBlock(128, 256, False), ResidualBlock(256, 256))
        self.block5 = nn.Sequential(ResidualBlock(256, 512, False), ResidualBlock(512, 512))
        self.avg_pool = nn.AvgPool2d(2)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.block5(self.block4(self.block3(self.block2(self.block1(x)))))
        return self.classifier(self.avg_pool(x).flatten(1))


@register_model(
    "resnet",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="S3 L1916-1982",
    preprocessing=CIFAR_HALF,
    labels=labels.CIFAR10,
    recipes=("resnet-cifar10",),
    reference_params={"model": 11_180_682},
)
def resnet(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """The seed's ResNet for 3x32x32 CIFAR-10 images (the model of ``zoo-train resnet-cifar10``).

    Exactly the seed: no BN/ReLU after the stem conv, ReLU after the second BN of
    each block as well as after the sum, 1x1 shortcut convs with bias. Works on
    32x32 input only (the final 2x2 average pool must see a 2x2 map).
    """
    return SeedResNet(num_classes, in_channels)


class BasicBlock(nn.Module):
    """He et al.'s basic block with a BN'd 1x1 projection shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False), nn.BatchNorm2d(out_channels)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 with a CIFAR stem (3x3/1 conv, no max-pool)."""

    def __init__(self, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        self.stem = nn.Sequential(conv3x3(in_channels, 64), nn.BatchNorm2d(64), nn.ReLU())
        layers, channels = [], 64
        for out_channels, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            layers += [BasicBlock(channels, out_channels, stride), BasicBlock(out_channels, out_channels)]
            channels = out_channels
        self.layers = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.avgpool(self.layers(self.stem(x))).flatten(1))


@register_model(
    "resnet18",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="He et al. 2016 (improved, opt-in alternative to `resnet`)",
    preprocessing=CIFAR_HALF,
    labels=labels.CIFAR10,
    recipes=("resnet18-cifar10",),
    reference_params={"model": 11_173_962},
    faithful=False,
)
def resnet18(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """Standard ResNet-18 (BasicBlock, BN in the projection shortcut) with a CIFAR stem.

    Not a seed model: the improved, opt-in alternative to ``resnet``.
    """
    return ResNet18(num_classes, in_channels)
