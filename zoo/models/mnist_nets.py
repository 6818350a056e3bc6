"""The seeds' small MNIST / Fashion-MNIST classifiers."""

from __future__ import annotations

import torch
from torch import nn

from .. import labels
from .._api import register_model
from ._common import MNIST_HALF, MNIST_TO_TENSOR, classifier_part


class MnistCNN(nn.Module):
    """conv(1→16, 5, p2)-ReLU-pool → conv(16→32, 5, p2)-ReLU-pool → Linear(1568, N)."""

    def __init__(self, num_classes: int = 10, with_features: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(nn.Conv2d(1, 16, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.conv2 = nn.Sequential(nn.Conv2d(16, 32, 5, 1, 2), nn.ReLU(), nn.MaxPool2d(2))
        self.out = nn.Linear(32 * 7 * 7, num_classes)
        self.with_features = with_features

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        features = self.conv2(self.conv1(x)).flatten(1)
        logits = self.out(features)
        if self.with_features:
            return logits, features
        return logits


@register_model(
    "mnist-cnn",
    task="image-classification",
    parts=classifier_part(),
    source="S0 L100-132, S1 L919-940",
    preprocessing=MNIST_TO_TENSOR,
    labels=labels.DIGITS,
    recipes=("mnist-cnn-mnist",),
    reference_params={"model": 28_938},
)
def mnist_cnn(num_classes: int = 10, with_features: bool = False) -> nn.Module:
    """The seeds' two-convolution MNIST CNN.

    Interface: returns logits. The seed returns ``(logits, flattened features)``
    (used for its t-SNE plot); ``with_features=True`` restores that.
    """
    return MnistCNN(num_classes, with_features)


class MnistCNNBN(nn.Module):
    """Four conv(3)-BN-ReLU layers (16, 32, 64, 128; pools after the 2nd and 4th) → 2048-1024-128-N."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()

        def block(cin: int, cout: int, pool: bool) -> nn.Sequential:
            layers = [nn.Conv2d(cin, cout, 3), nn.BatchNorm2d(cout), nn.ReLU(True)]
            if pool:
                layers.append(nn.MaxPool2d(2, 2))
            return nn.Sequential(*layers)

        self.layer1 = block(1, 16, False)
        self.layer2 = block(16, 32, True)
        self.layer3 = block(32, 64, False)
        self.layer4 = block(64, 128, True)
        self.fc = nn.Sequential(
            nn.Linear(128 * 4 * 4, 1024),
            nn.ReLU(True),
            nn.Linear(1024, 128),
            nn.ReLU(True),
            nn.Linear(128, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(x.flatten(1))


@register_model(
    "mnist-cnn-bn",
    task="image-classification",
    parts=classifier_part(),
    source="S3 L1766-1809",
    preprocessing=MNIST_HALF,
    labels=labels.DIGITS,
    recipes=("mnist-cnn-bn-mnist",),
    reference_params={"model": 2_328_298},
)
def mnist_cnn_bn(num_classes: int = 10) -> nn.Module:
    """S3's batch-normalised four-convolution MNIST CNN."""
    return MnistCNNBN(num_classes)


class MnistCNNWide(nn.Module):
    """conv(1→32, 5)-ReLU-pool → 4608-120-84-N."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=5)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc1 = nn.Linear(32 * 12 * 12, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.conv1(x))).flatten(1)
        x = torch.relu(self.fc1(x))
        x = torch.relu(self.fc2(x))
        return self.fc3(x)


@register_model(
    "mnist-cnn-wide",
    task="image-classification",
    parts=classifier_part(),
    source="S4 L1531-1549",
    preprocessing=MNIST_HALF,
    labels=labels.DIGITS,
    recipes=("mnist-cnn-wide-mnist",),
    reference_params={"model": 564_926},
)
def mnist_cnn_wide(num_classes: int = 10) -> nn.Module:
    """S4's one-convolution, three-linear-layer digit CNN."""
    return MnistCNNWide(num_classes)


class FashionNet(nn.Module):
    """conv(1→6, 5)-ReLU-pool → Linear(864, N)."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels=1, out_channels=6, kernel_size=5)
        self.pool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.fc = nn.Linear(in_features=6 * 12 * 12, out_features=num_classes)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = self.pool(torch.relu(self.conv(t)))
        return self.fc(t.flatten(1))


@register_model(
    "fashion-net",
    task="image-classification",
    parts=classifier_part(),
    source="S4 L975-996",
    preprocessing=MNIST_TO_TENSOR,
    labels=labels.FASHION_MNIST,
    recipes=("fashion-net-fashion-mnist",),
    reference_params={"model": 8_806},
)
def fashion_net(num_classes: int = 10) -> nn.Module:
    """S4's one-convolution Fashion-MNIST network."""
    return FashionNet(num_classes)


class MnistLSTM(nn.Module):
    """Image rows as 28 time steps → LSTM(28, 64) from a zero state → Linear(64, N) on the last step."""

    def __init__(self, num_classes: int = 10, hidden_size: int = 64) -> None:
        super().__init__()
        self.rnn = nn.LSTM(input_size=28, hidden_size=hidden_size, num_layers=1, batch_first=True)
        self.out = nn.Linear(hidden_size, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r_out, _ = self.rnn(x.reshape(x.shape[0], 28, 28))
        return self.out(r_out[:, -1, :])


@register_model(
    "mnist-lstm",
    task="image-classification",
    parts=classifier_part(),
    source="S1 L1144-1166, L1290-1313",
    preprocessing=MNIST_TO_TENSOR,
    labels=labels.DIGITS,
    recipes=("mnist-lstm-mnist",),
    reference_params={"model": 24_714},
)
def mnist_lstm(num_classes: int = 10, hidden_size: int = 64) -> nn.Module:
    """The seeds' row-by-row LSTM digit classifier.

    Interface: takes (N, 1, 28, 28) images like every digit model and reshapes
    them to (N, 28 steps, 28 features) itself (the seed reshapes outside).
    """
    return MnistLSTM(num_classes, hidden_size)


class MLPBN(nn.Module):
    """784-300-100-N with BatchNorm1d + ReLU after the two hidden layers."""

    def __init__(self, num_classes: int = 10, in_features: int = 784, hidden1: int = 300, hidden2: int = 100) -> None:
        super().__init__()
        self.layer1 = nn.Sequential(nn.Linear(in_features, hidden1), nn.BatchNorm1d(hidden1), nn.ReLU(True))
        self.layer2 = nn.Sequential(nn.Linear(hidden1, hidden2), nn.BatchNorm1d(hidden2), nn.ReLU(True))
        self.layer3 = nn.Sequential(nn.Linear(hidden2, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer3(self.layer2(self.layer1(x.flatten(1))))


@register_model(
    "mlp-bn",
    task="image-classification",
    parts=classifier_part(),
    source="S3 L1249-1260",
    preprocessing=MNIST_HALF,
    labels=labels.DIGITS,
    recipes=("mlp-bn-mnist",),
    reference_params={"model": 267_410},
)
def mlp_bn(num_classes: int = 10) -> nn.Module:
    """S3's ``Batch_Net``: a three-layer MLP with batch normalisation.

    Interface: takes (N, 1, 28, 28) images and flattens them itself (the seed
    flattens outside); (N, 784) input works too.
    """
    return MLPBN(num_classes)
