"""Variational autoencoder (S3 L2918-2967)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._api import Part, register_model
from ._common import MNIST_HALF, image_in, vector


class VAEEncoder(nn.Module):
    """image → (mu, logvar): fc1 784→400 ReLU, fc21/fc22 400→latent."""

    def __init__(self, latent_size: int = 20) -> None:
        super().__init__()
        self.fc1 = nn.Linear(784, 400)
        self.fc21 = nn.Linear(400, latent_size)
        self.fc22 = nn.Linear(400, latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h1 = F.relu(self.fc1(x.flatten(1)))
        return self.fc21(h1), self.fc22(h1)


class VAEDecoder(nn.Module):
    """z → image: fc3 latent→400 ReLU, fc4 400→784 Tanh, shaped (N, 1, 28, 28)."""

    def __init__(self, latent_size: int = 20) -> None:
        super().__init__()
        self.fc3 = nn.Linear(latent_size, 400)
        self.fc4 = nn.Linear(400, 784)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.fc4(F.relu(self.fc3(z)))).reshape(z.shape[0], 1, 28, 28)


class VAE(nn.Module):
    """Returns (reconstruction, mu, logvar). Training samples z = mu + eps·exp(logvar/2);
    evaluation uses z = mu, so the eval/exported model is deterministic."""

    def __init__(self, latent_size: int = 20) -> None:
        super().__init__()
        self.encoder = VAEEncoder(latent_size)
        self.decoder = VAEDecoder(latent_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encoder(x)
        z = mu
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decoder(z), mu, logvar


@register_model(
    "vae",
    task="vae",
    parts=(
        Part(
            "model",
            (image_in(),),
            (image_in("reconstruction"), vector("mu", "latent_size"), vector("logvar", "latent_size")),
        ),
        Part(
            "encoder", (image_in(),), (vector("mu", "latent_size"), vector("logvar", "latent_size")), module="encoder"
        ),
        Part("decoder", (vector("z", "latent_size"),), (image_in("image"),), module="decoder"),
    ),
    source="S3 L2918-2967",
    preprocessing={**MNIST_HALF, "noise": "normal"},
    recipes=("vae-mnist",),
    reference_params={"model": 652_824},
)
def vae(latent_size: int = 20) -> nn.Module:
    """S3's MLP VAE with a 20-d latent space.

    Departures: the seed's ``eps`` was built with ``torch.FloatTensor(...).normal_()``
    and moved by hand; here ``randn_like``. Evaluation uses ``z = mu`` (deterministic)
    instead of sampling. Encoder and decoder are submodules so each exports alone.
    """
    return VAE(latent_size)
