"""SpeedNet: a small CIFAR-10 network shaped for time to accuracy, after the published description of K. Jordan's
airbench94 ("94% on CIFAR-10 in 3.29 seconds on a single GPU", 2024). Written here from the paper; no code copied.

A 2x2 patch-whitening convolution (its filters are set from the training images' patch covariance, see
:func:`whitening_filters`, and stay fixed), then three groups of conv3x3 → max-pool → batch-norm → GELU → conv3x3 →
batch-norm → GELU at widths 64/256/256, a 3x3 max-pool to one position and a bias-free linear head whose logits are
scaled by 1/9. Not a seed model: the zoo's answer to "a good CIFAR-10 model fast on a laptop".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import labels
from .._api import register_model
from ._common import CIFAR_STATS, classifier_part


class ConvGroup(nn.Module):
    """conv3x3 → max-pool 2 → BN → GELU → conv3x3 → BN → GELU (convolutions without bias: BN follows)."""

    def __init__(self, in_channels: int, out_channels: int, momentum: float) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = nn.BatchNorm2d(out_channels, momentum=momentum, eps=1e-12)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
        self.norm2 = nn.BatchNorm2d(out_channels, momentum=momentum, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.norm1(self.pool(self.conv1(x))))
        return F.gelu(self.norm2(self.conv2(x)))


class SpeedNet(nn.Module):
    """Whitening stem, three conv groups, max-pool, scaled bias-free linear head."""

    def __init__(
        self,
        num_classes: int = 10,
        widths: tuple[int, int, int] = (64, 256, 256),
        whiten_kernel: int = 2,
        momentum: float = 0.4,
        logit_scale: float = 1 / 9,
    ) -> None:
        super().__init__()
        whiten_width = 2 * 3 * whiten_kernel**2  # each eigenvector of the patch covariance, and its negative
        self.whiten = nn.Conv2d(3, whiten_width, whiten_kernel, padding=0, bias=True)
        groups, channels = [], whiten_width
        for width in widths:
            groups.append(ConvGroup(channels, width, momentum))
            channels = width
        self.groups = nn.Sequential(*groups)
        self.pool = nn.MaxPool2d(3)
        self.fc = nn.Linear(channels, num_classes, bias=False)
        self.logit_scale = logit_scale
        for m in self.modules():  # batch-norm scales stay 1; only their biases learn (the recipe decides)
            if isinstance(m, nn.BatchNorm2d):
                m.weight.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.whiten(x))
        x = self.pool(self.groups(x)).flatten(1)
        return self.fc(x) * self.logit_scale


@torch.no_grad()
def whitening_filters(
    images: torch.Tensor, kernel: int = 2, eps: float = 5e-4, keep: int | None = None, chunk: int = 500
) -> torch.Tensor:
    """Filters that whiten ``kernel`` x ``kernel`` patches of ``images`` (N, C, H, W; normalised floats): the
    eigenvectors of the patch covariance scaled by 1/sqrt(eigenvalue + eps), each also negated (a one-sided
    nonlinearity or max-pool after the stem keeps both signs). ``keep``: only the directions of that many largest
    eigenvalues (a stem with fewer than 2 x C x kernel^2 filters). Shape (2 * (keep or C * kernel^2), C, k, k).
    The covariance is summed ``chunk`` images at a time, so a 7x7 stem's patches need not fit in memory at once."""
    c, dim = images.shape[1], images.shape[1] * kernel * kernel
    total, outer, count = torch.zeros(dim, dtype=torch.float64), torch.zeros(dim, dim, dtype=torch.float64), 0
    for part in images.split(chunk):
        patches = part.float().unfold(2, kernel, 1).unfold(3, kernel, 1)  # n, C, H', W', k, k
        patches = patches.permute(0, 2, 3, 1, 4, 5).reshape(-1, dim).double()
        total += patches.sum(0)
        outer += patches.T @ patches
        count += len(patches)
    mean = total / count
    covariance = (outer / count - torch.outer(mean, mean)).float()
    values, vectors = torch.linalg.eigh(covariance)  # ascending
    if keep is not None:
        values, vectors = values[dim - keep :], vectors[:, dim - keep :]
    filters = (vectors.T / torch.sqrt(values + eps)[:, None]).reshape(-1, c, kernel, kernel)
    return torch.cat([filters, -filters])


@register_model(
    "speednet",
    task="image-classification",
    parts=classifier_part(3, 32, 32),
    source="K. Jordan 2024, airbench94 (from the paper's description; not a seed model)",
    preprocessing=CIFAR_STATS,
    labels=labels.CIFAR10,
    recipes=("speednet-cifar10",),
    reference_params={"model": 1_972_792},
    faithful=False,
)
def speednet(num_classes: int = 10, width: int = 64) -> nn.Module:
    """SpeedNet for 32x32 images: ``width`` scales the three groups (64: 64/256/256, airbench94's shape).

    Its whitening filters are fitted from data by the speed recipe (:func:`whitening_filters`); a freshly built
    SpeedNet has random ones.
    """
    return SpeedNet(num_classes, (width, 4 * width, 4 * width))
