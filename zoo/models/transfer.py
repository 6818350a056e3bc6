"""Transfer learning: a frozen torchvision ResNet-18 with S3's head (S3 L3612-3628)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from .._api import register_model
from ._common import IMAGENET, classifier_part


def _load_backbone_weights(backbone: nn.Module, weights: str) -> None:
    """Load ImageNet weights from a local ``.pth`` file, or by torchvision's downloader."""
    from torchvision.models import ResNet18_Weights

    path = Path(weights).expanduser()
    if path.is_file():
        state = torch.load(path, map_location="cpu", weights_only=True)
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = backbone.load_state_dict(state, strict=False)
        if unexpected or [k for k in missing if not k.startswith("fc.")]:
            raise ValueError(f"{path} is not a torchvision ResNet-18 state_dict (unexpected keys: {unexpected[:3]})")
        return
    try:
        enum = ResNet18_Weights[weights]
    except KeyError:
        raise ValueError(
            f"backbone_weights={weights!r} is neither a file nor a torchvision weight name "
            f"({', '.join(w.name for w in ResNet18_Weights)})"
        ) from None
    state = enum.get_state_dict(progress=True)
    backbone.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)


@register_model(
    "transfer-resnet18",
    task="image-classification",
    parts=classifier_part(3, 224, 224),
    source="S3 L3612-3628",
    preprocessing=IMAGENET,
    labels=("cat", "dog"),
    recipes=("transfer-cats-dogs",),
    reference_params={"fc": 197_634},
)
def transfer_resnet18(
    num_classes: int = 2, backbone_weights: str | None = None, freeze_backbone: bool = True
) -> nn.Module:
    """torchvision ResNet-18 backbone with the seed's two-hidden-layer head.

    Head: Linear(512, 256) ReLU Dropout(0.5) Linear(256, 256) ReLU Dropout(0.5)
    Linear(256, N). ``backbone_weights`` is a local ``.pth`` of torchvision's ResNet-18 or a
    torchvision weight name (``"IMAGENET1K_V1"``, downloaded on first use); ``None``
    leaves the backbone randomly initialised (tests, offline builds). The backbone
    is frozen unless ``freeze_backbone=False``.
    """
    from torchvision.models import resnet18 as tv_resnet18

    model = tv_resnet18(weights=None)
    if backbone_weights:
        _load_backbone_weights(model, backbone_weights)
    if freeze_backbone:
        for p in model.parameters():
            p.requires_grad_(False)
    model.fc = nn.Sequential(
        nn.Linear(512, 256),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(256, 256),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(256, num_classes),
    )
    return model
