"""Generative recipes: autoencoders, VAEs and GANs on MNIST."""

from __future__ import annotations

from dataclasses import replace

from zoo.models import MNIST_HALF, MNIST_TO_TENSOR
from zoo.models.gan import GAN_MNIST

from .base import MNIST_ALT, Profile, Recipe, register

register(
    Recipe(
        "autoencoder-mnist",
        "autoencoder",
        "reconstruction",
        "mnist",
        "Fully connected autoencoder with a 3-d code on MNIST images.",
        "S1 L1600-1700",
        {
            "seed": Profile(
                epochs=10,
                batch_size=64,
                optimizer="adam",
                lr=0.005,
                extra={"loss": "mse"},
                notes="S1: MSE, Adam 0.005, batch 64, 10 epochs",
            )
        },
        preprocessing=MNIST_TO_TENSOR,
        alt_datasets=MNIST_ALT,
    )
)
register(
    Recipe(
        "conv-autoencoder-mnist",
        "conv-autoencoder",
        "reconstruction",
        "mnist",
        "S3's convolutional autoencoder on [-1, 1] MNIST.",
        "S3 L2780-2900",
        {
            "seed": Profile(
                epochs=40,
                batch_size=128,
                optimizer="adam",
                lr=1e-3,
                weight_decay=1e-5,
                extra={"loss": "sum-mse"},
                notes="S3: sum-MSE / batch, Adam 1e-3 wd 1e-5, batch 128, 40 epochs",
            )
        },
        preprocessing=MNIST_HALF,
        alt_datasets=MNIST_ALT,
    )
)
register(
    Recipe(
        "vae-mnist",
        "vae",
        "vae",
        "mnist",
        "S3's VAE on [-1, 1] MNIST.",
        "S3 L2900-3030",
        {
            "seed": Profile(
                epochs=100,
                batch_size=128,
                optimizer="adam",
                lr=1e-3,
                notes="S3: sum-MSE + KLD, Adam 1e-3, batch 128, 100 epochs",
            )
        },
        preprocessing={**MNIST_HALF, "noise": "normal"},
        alt_datasets=MNIST_ALT,
    )
)
_GAN = Profile(
    epochs=10,
    batch_size=128,
    optimizer="adam",
    lr=3e-4,
    betas=(0.5, 0.999),
    extra={"loss": "bce"},
    notes="S3: Adam 3e-4 betas (0.5, 0.999), batch 128, noise U(-1,1)^96",
)
register(
    Recipe(
        "gan-mnist",
        "gan",
        "gan",
        "mnist",
        "S3's MLP GAN on MNIST.",
        "S3 L3124-3300",
        {"seed": _GAN},
        preprocessing=GAN_MNIST,
        alt_datasets=MNIST_ALT,
    )
)
register(
    Recipe(
        "lsgan-mnist",
        "gan",
        "gan",
        "mnist",
        "The same GAN with least-squares losses.",
        "S3 L3300-3350",
        {"seed": replace(_GAN, extra={"loss": "ls"})},
        preprocessing=GAN_MNIST,
        alt_datasets=MNIST_ALT,
    )
)
register(
    Recipe(
        "dcgan-mnist",
        "dcgan",
        "gan",
        "mnist",
        "S3's DCGAN on MNIST.",
        "S3 L3360-3460",
        {"seed": replace(_GAN, epochs=5)},
        preprocessing=GAN_MNIST,
        alt_datasets=MNIST_ALT,
    )
)
register(
    Recipe(
        "gan-curves",
        "gan-curves",
        "curve-gan",
        "none",
        "S1's GAN that learns to paint a·x² + (a-1) curves.",
        "S1 L1920-2010",
        {
            "seed": Profile(
                epochs=10,
                batch_size=64,
                optimizer="adam",
                lr=1e-4,
                extra={"steps_per_epoch": 1000},
                notes="S1: Adam 1e-4 for G and D, batch 64, 10,000 steps (10 epochs of 1,000)",
            )
        },
        target="mean D(real) within 0.45-0.55 at the end",
    )
)
