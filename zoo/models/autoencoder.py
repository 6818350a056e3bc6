"""Fully connected and convolutional autoencoders (S0/S1 and S3)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._api import Part, TensorSpec, register_model
from ._common import MNIST_HALF, MNIST_TO_TENSOR, image_in, vector

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": lambda: nn.ReLU(True),
    "sigmoid": nn.Sigmoid,
}


def _mlp(sizes: list[int], activation: str, last: str | None) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(_ACTIVATIONS[activation]())
    if last:
        layers.append(_ACTIVATIONS[last]())
    return nn.Sequential(*layers)


class AutoEncoderDecoder(nn.Module):
    """code (N, code_size) → image (N, 1, 28, 28)."""

    def __init__(self, sizes: list[int], activation: str, output: str) -> None:
        super().__init__()
        self.net = _mlp(sizes, activation, output)

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).reshape(code.shape[0], 1, 28, 28)


class AutoEncoder(nn.Module):
    """784-128-64-12-code encoder, mirrored decoder; returns (code, reconstruction)."""

    def __init__(self, code_size: int = 3, activation: str = "tanh", output: str = "sigmoid") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS or output not in _ACTIVATIONS:
            raise ValueError(f"activation and output must be one of {sorted(_ACTIVATIONS)}")
        sizes = [28 * 28, 128, 64, 12, code_size]
        self.encoder = _mlp(sizes, activation, None)
        self.decoder = AutoEncoderDecoder(sizes[::-1], activation, output)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x.flatten(1))
        return code, self.decoder(code)


@register_model(
    "autoencoder",
    task="autoencoder",
    parts=(
        Part("model", (image_in(),), (vector("code", "code_size"), image_in("reconstruction"))),
        Part("decoder", (vector("code", "code_size"),), (image_in("reconstruction"),), module="decoder"),
    ),
    source="S0 L331-360, S1 L1633-1662 (Tanh, Sigmoid output), S3 L2690-2716 (ReLU, Tanh output)",
    preprocessing=MNIST_TO_TENSOR,
    recipes=("autoencoder-mnist",),
    reference_params={"model": 219_891},
)
def autoencoder(code_size: int = 3, activation: str = "tanh", output: str = "sigmoid") -> nn.Module:
    """The seeds' fully connected autoencoder with a 3-d code (for 3-D plots).

    Default: S0/S1 (Tanh between layers, Sigmoid output for [0, 1] pixels).
    ``activation="relu", output="tanh"`` is S3's version (for [-1, 1] pixels).
    Interface: takes and returns (N, 1, 28, 28) images (the seeds use flat 784).
    """
    return AutoEncoder(code_size, activation, output)


class ConvAutoEncoder(nn.Module):
    """Conv encoder to an 8x2x2 code, transposed-conv decoder back to 1x28x28 (Tanh)."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=3, padding=1),  # (16, 10, 10)
            nn.ReLU(True),
            nn.MaxPool2d(2, stride=2),  # (16, 5, 5)
            nn.Conv2d(16, 8, 3, stride=2, padding=1),  # (8, 3, 3)
            nn.ReLU(True),
            nn.MaxPool2d(2, stride=1),  # (8, 2, 2)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(8, 16, 3, stride=2),  # (16, 5, 5)
            nn.ReLU(True),
            nn.ConvTranspose2d(16, 8, 5, stride=3, padding=1),  # (8, 15, 15)
            nn.ReLU(True),
            nn.ConvTranspose2d(8, 1, 2, stride=2, padding=1),  # (1, 28, 28)
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = self.encoder(x)
        return code, self.decoder(code)


_CONV_CODE = TensorSpec("code", (2, 8, 2, 2))


@register_model(
    "conv-autoencoder",
    task="autoencoder",
    parts=(
        Part("model", (image_in(),), (_CONV_CODE, image_in("reconstruction"))),
        Part("decoder", (_CONV_CODE,), (image_in("reconstruction"),), module="decoder"),
    ),
    source="S3 L2798-2823",
    preprocessing=MNIST_HALF,
    recipes=("conv-autoencoder-mnist",),
    reference_params={"model": 5_729},
)
def conv_autoencoder() -> nn.Module:
    """S3's convolutional autoencoder for [-1, 1]-normalised 28x28 digits."""
    return ConvAutoEncoder()
