"""VGG-16 (S3 L1642-1693, S4 L651)."""

from __future__ import annotations

import torch
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_HALF, classifier_part

VGG16_CFG: tuple[int | str, ...] = (
    64,
    64,
    "M",
    128,
    128,
    "M",
    256,
    256,
    256,
    "M",
    512,
    512,
    512,
    "M",
    512,
    512,
    512,
    "M",
)


class VGG(nn.Module):
    """3x3 convolutions (padding 1) + ReLU per the config, then a 4096-4096-N classifier."""

    def __init__(self, cfg: tuple[int | str, ...] = VGG16_CFG, num_classes: int = 10, in_channels: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = in_channels
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(v), kernel_size=3, padding=1), nn.ReLU(True)]
                channels = int(v)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, 4096),
            nn.ReLU(True),
            nn.Dropout(),
            nn.Linear(4096, num_classes),
        )
        self._initialize_weights()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(x.flatten(1))

    def _initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)


@register_model(
    "vgg16",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="S3 L1642-1693, S4 L651",
    preprocessing=CIFAR_HALF,
    labels=labels.CIFAR10,
    recipes=("vgg16-cifar10",),
    reference_params={"model": 134_301_514},
)
def vgg16(num_classes: int = 10, in_channels: int = 3) -> nn.Module:
    """VGG-16 (configuration D).

    Seed bugs fixed: ``forward`` had no ``return`` and ``__init__`` called an
    undefined ``_initialize_weights`` (now Kaiming-normal convolutions, N(0, 0.01)
    linear layers, zero biases, as in the VGG paper's reference code).
    Departure: ``AdaptiveAvgPool2d(7)`` before the classifier (no parameters; the
    identity at 224x224) so 32x32 CIFAR-10 images work.
    """
    return VGG(VGG16_CFG, num_classes, in_channels)
