"""The small tutorial models: regression, classification and the batch-norm demo."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .._api import Part, register_model
from ._common import vector


def _single_part(inputs: int | str, outputs: int | str, out_name: str = "y") -> tuple[Part, ...]:
    return (Part("model", (vector("x", inputs),), (vector(out_name, outputs),)),)


class TwoLayerNet(nn.Module):
    """Linear(n_feature, n_hidden) ReLU Linear(n_hidden, n_output)."""

    def __init__(self, n_feature: int, n_hidden: int, n_output: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(n_feature, n_hidden)
        self.predict = nn.Linear(n_hidden, n_output)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.predict(F.relu(self.hidden(x)))


@register_model(
    "regression-net",
    task="regression",
    parts=_single_part("n_feature", "n_output"),
    source="S1 L202-221, S2 L48-70",
    preprocessing={"kind": "vector"},
    recipes=("regression-quadratic", "optimizer-comparison"),
    reference_params={"model": 31},
)
def regression_net(n_feature: int = 1, n_hidden: int = 10, n_output: int = 1) -> nn.Module:
    """Fits y = x² + noise with one hidden ReLU layer of 10."""
    return TwoLayerNet(n_feature, n_hidden, n_output)


@register_model(
    "classifier-net",
    task="classification",
    parts=_single_part("n_feature", "n_output", "logits"),
    source="S1 L359-378, S2 L211-222",
    preprocessing={"kind": "vector"},
    labels=("cluster-0", "cluster-1"),
    recipes=("classifier-gaussians",),
    reference_params={"model": 52},
)
def classifier_net(n_feature: int = 2, n_hidden: int = 10, n_output: int = 2) -> nn.Module:
    """Separates two Gaussian clusters in the plane (logits for 2 classes)."""
    return TwoLayerNet(n_feature, n_hidden, n_output)


@register_model(
    "linear-regression",
    task="regression",
    parts=_single_part(1, 1),
    source="S3 L853-897",
    preprocessing={"kind": "vector"},
    recipes=("linear-regression",),
    reference_params={"model": 2},
)
def linear_regression() -> nn.Module:
    """y = w·x + b fitted to the seed's 15 points."""
    return nn.Sequential(nn.Linear(1, 1))


@register_model(
    "poly-regression",
    task="regression",
    parts=_single_part(3, 1),
    source="S3 L912-966",
    preprocessing={"kind": "vector", "features": "[x, x^2, x^3]"},
    recipes=("poly-regression",),
    reference_params={"model": 4},
)
def poly_regression() -> nn.Module:
    """y = b + w1·x + w2·x² + w3·x³ on features [x, x², x³] (the seed's ``make_features``)."""
    return nn.Sequential(nn.Linear(3, 1))


@register_model(
    "logistic-regression",
    task="classification",
    parts=_single_part(2, 1, "probability"),
    source="S3 L1048-1095",
    preprocessing={"kind": "vector"},
    labels=("class-0", "class-1"),
    recipes=("logistic-regression",),
    reference_params={"model": 3},
)
def logistic_regression() -> nn.Module:
    """Linear(2, 1) + Sigmoid: P(class 1 | x), trained with BCE."""
    return nn.Sequential(nn.Linear(2, 1), nn.Sigmoid())


class BNNet(nn.Module):
    """Input BN, then 8 x [Linear(·, 10) → BN(momentum 0.5) → tanh], then Linear(10, 1).

    With ``batch_norm=False`` the BN layers are left out (the comparison net).
    """

    def __init__(self, batch_norm: bool = True, n_hidden: int = 8, width: int = 10, bias_init: float = -0.2) -> None:
        super().__init__()
        self.input_bn = nn.BatchNorm1d(1, momentum=0.5) if batch_norm else nn.Identity()
        self.fcs = nn.ModuleList()
        self.bns = nn.ModuleList()
        for i in range(n_hidden):
            fc = nn.Linear(1 if i == 0 else width, width)
            nn.init.normal_(fc.weight, 0.0, 0.1)
            nn.init.constant_(fc.bias, bias_init)
            self.fcs.append(fc)
            self.bns.append(nn.BatchNorm1d(width, momentum=0.5) if batch_norm else nn.Identity())
        self.predict = nn.Linear(width, 1)
        nn.init.normal_(self.predict.weight, 0.0, 0.1)
        nn.init.constant_(self.predict.bias, bias_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.input_bn(x)
        for fc, bn in zip(self.fcs, self.bns):
            x = torch.tanh(bn(fc(x)))
        return self.predict(x)


@register_model(
    "bn-net",
    task="regression",
    parts=_single_part(1, 1),
    source="S0 L482-541 (theory; Morvan's batch-normalisation demo)",
    preprocessing={"kind": "vector"},
    recipes=("bn-demo",),
    reference_params={"model": 963},
)
def bn_net(batch_norm: bool = True) -> nn.Module:
    """The batch-normalisation demo net: 8 tanh layers of 10 on y = x² − 5 + noise.

    The seed (S0) gives only the theory; the layout follows the tutorial it
    summarises: weights N(0, 0.1), biases −0.2, BN before each tanh and on the
    input. ``batch_norm=False`` builds the plain net it is compared with (801
    parameters). The seed's forward also returned per-layer activation lists for
    plotting; ours returns the prediction only.
    """
    return BNNet(batch_norm)
