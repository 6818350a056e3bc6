"""GANs: the MLP GAN / LSGAN and DCGAN of S3, and S1's curve-painting GAN."""

from __future__ import annotations

import torch
from torch import nn

from .._api import Part, register_model
from ._common import MNIST_HALF, image_in, vector

#: Images in [-1, 1]; generators sample their noise from U(-1, 1) (as S3 does).
GAN_MNIST = {**MNIST_HALF, "noise": "uniform"}


class GAN(nn.Module):
    """A generator and a discriminator; ``forward`` generates (noise → sample)."""

    def __init__(self, generator: nn.Module, discriminator: nn.Module, noise_dim: int) -> None:
        super().__init__()
        self.generator = generator
        self.discriminator = discriminator
        self.noise_dim = noise_dim

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        return self.generator(noise)


class ToImage(nn.Module):
    """(N, 784) → (N, 1, 28, 28)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], 1, 28, 28)


def _gan_parts(noise_dim: str = "noise_dim") -> tuple[Part, ...]:
    return (
        Part("generator", (vector("noise", noise_dim),), (image_in("image"),), module="generator"),
        Part("discriminator", (image_in(),), (vector("logit", 1),), module="discriminator"),
    )


@register_model(
    "gan",
    task="gan",
    parts=_gan_parts(),
    source="S3 L3124-3211 (LSGAN: S3 L3320-3347)",
    preprocessing=GAN_MNIST,
    recipes=("gan-mnist", "lsgan-mnist"),
    reference_params={"discriminator": 267_009, "generator": 1_952_528},
)
def gan(noise_dim: int = 96) -> nn.Module:
    """S3's fully connected GAN (also trained as LSGAN).

    D: 784-256-256-1 with LeakyReLU(0.2), outputs a logit. G: noise-1024-1024-784,
    ReLU, Tanh output. Interface: G returns and D takes (N, 1, 28, 28) images.
    """
    discriminator = nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 256),
        nn.LeakyReLU(0.2),
        nn.Linear(256, 1),
    )
    generator = nn.Sequential(
        nn.Linear(noise_dim, 1024),
        nn.ReLU(True),
        nn.Linear(1024, 1024),
        nn.ReLU(True),
        nn.Linear(1024, 784),
        nn.Tanh(),
        ToImage(),
    )
    return GAN(generator, discriminator, noise_dim)


class DCDiscriminator(nn.Module):
    """conv(32, 5)-LReLU-pool → conv(64, 5)-LReLU-pool → 1024-1024-1."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 32, 5, 1),
            nn.LeakyReLU(0.01),
            nn.MaxPool2d(2, 2),
            nn.Conv2d(32, 64, 5, 1),
            nn.LeakyReLU(0.01),
            nn.MaxPool2d(2, 2),
        )
        self.fc = nn.Sequential(nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.conv(x).flatten(1))


class DCGenerator(nn.Module):
    """noise → 1024 → 128x7x7 → ConvT to 64x14x14 → ConvT to 1x28x28 (Tanh); ReLU before BN as in the seed."""

    def __init__(self, noise_dim: int = 96) -> None:
        super().__init__()
        self.fc = nn.Sequential(
            nn.Linear(noise_dim, 1024),
            nn.ReLU(True),
            nn.BatchNorm1d(1024),
            nn.Linear(1024, 7 * 7 * 128),
            nn.ReLU(True),
            nn.BatchNorm1d(7 * 7 * 128),
        )
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, padding=1),
            nn.ReLU(True),
            nn.BatchNorm2d(64),
            nn.ConvTranspose2d(64, 1, 4, 2, padding=1),
            nn.Tanh(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(x).reshape(x.shape[0], 128, 7, 7))


@register_model(
    "dcgan",
    task="gan",
    parts=_gan_parts(),
    source="S3 L3368-3428",
    preprocessing=GAN_MNIST,
    recipes=("dcgan-mnist",),
    reference_params={"discriminator": 1_102_721, "generator": 6_675_009},
)
def dcgan(noise_dim: int = 96) -> nn.Module:
    """S3's deep convolutional GAN for 28x28 digits."""
    return GAN(DCGenerator(noise_dim), DCDiscriminator(), noise_dim)


@register_model(
    "gan-curves",
    task="gan",
    parts=(
        Part("generator", (vector("ideas", "n_ideas"),), (vector("painting", "components"),), module="generator"),
        Part("discriminator", (vector("painting", "components"),), (vector("prob", 1),), module="discriminator"),
    ),
    source="S1 L1951-1963",
    preprocessing={"kind": "vector", "x": "linspace(-1, 1, components)", "noise": "normal"},
    recipes=("gan-curves",),
    reference_params={"generator": 2_703, "discriminator": 2_177},
)
def gan_curves(n_ideas: int = 5, components: int = 15) -> nn.Module:
    """S1's GAN that learns to paint curves a·x² + (a-1), a ~ U(1, 2).

    G: Linear(5, 128) ReLU Linear(128, 15). D: Linear(15, 128) ReLU Linear(128, 1) Sigmoid.
    """
    generator = nn.Sequential(nn.Linear(n_ideas, 128), nn.ReLU(), nn.Linear(128, components))
    discriminator = nn.Sequential(nn.Linear(components, 128), nn.ReLU(), nn.Linear(128, 1), nn.Sigmoid())
    return GAN(generator, discriminator, n_ideas)
