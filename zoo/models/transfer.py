"""Transfer learning: a frozen trained ResNet-18 with S3's head (S3 L3612-3628).

The seed's backbone is torchvision's ImageNet ResNet-18 at 224 px. Where those weights cannot be had (no network,
no local copy), the zoo's own CIFAR-10 ResNet-18 (``resnet18.cifar10``, 32 px) serves as the backbone instead:
``backbone="resnet18", backbone_weights="resnet18.cifar10"``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._api import register_model
from ._common import IMAGENET, classifier_part

#: ``torchvision``: torchvision's ResNet-18 (7x7 stem, ImageNet's 224 px); ``resnet18``: the zoo's ResNet-18 (CIFAR
#: stem, 32 px).
BACKBONES = ("torchvision", "resnet18")
#: The torchvision weights the seed lesson starts from.
IMAGENET_WEIGHTS = "IMAGENET1K_V1"


class TransferNet(nn.Module):
    """A backbone whose own classifier is removed, and a new head (``fc``) on its 512 features.

    A frozen backbone also stays in eval mode while the head trains: its batch-norm layers keep the statistics they
    were trained with instead of drifting to the small batches of the new task.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, frozen: bool) -> None:
        super().__init__()
        self.backbone = backbone
        self.fc = head
        self.frozen = frozen

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone(x))

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self


def _load_torchvision_weights(backbone: nn.Module, weights: str) -> None:
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


def imagenet_weights_available(timeout: float = 10.0) -> tuple[bool, str]:
    """Whether torchvision's ImageNet ResNet-18 weights can be had here (cached, or the download server answers),
    and why not."""
    import urllib.request

    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights[IMAGENET_WEIGHTS].url
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name
    if cached.is_file():
        return True, f"cached at {cached}"
    try:
        urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout).close()
    except OSError as e:
        return False, f"{url} cannot be reached ({getattr(e, 'reason', e)}) and no copy is cached at {cached}"
    return True, f"downloadable from {url}"


def backbone_preprocessing(backbone: str, backbone_weights: str | None) -> dict[str, Any]:
    """What the backbone reads: ImageNet's 224 px and statistics, or the zoo weights' own preprocessing."""
    if backbone == "torchvision":
        return dict(IMAGENET)
    if backbone_weights:
        from ..weights import WeightsError, get_weights

        try:
            card = dict(get_weights(backbone_weights).preprocessing or {})
        except (WeightsError, ValueError):  # not a weights name: the architecture's own
            card = {}
        if card:
            return card
    from .._api import get_spec

    return dict(get_spec(backbone).preprocessing or {})


def _backbone(backbone: str, weights: str | None) -> nn.Module:
    if backbone == "torchvision":
        from torchvision.models import resnet18 as tv_resnet18

        model = tv_resnet18(weights=None)
        if weights:
            _load_torchvision_weights(model, weights)
    elif backbone == "resnet18":
        from .._api import get_model

        model = get_model("resnet18", weights=weights) if weights else get_model("resnet18")
    else:
        raise ValueError(f"backbone={backbone!r}: choose one of {', '.join(BACKBONES)}")
    model.fc = nn.Identity()
    return model


@register_model(
    "transfer-resnet18",
    task="image-classification",
    parts=classifier_part(3, 224, 224),
    source="S3 L3612-3628",
    preprocessing=IMAGENET,
    labels=("cat", "dog"),
    recipes=("transfer-cats-dogs",),
    reference_params={"fc": 197_634},
    start_kwargs={"backbone_weights": "backbone."},
)
def transfer_resnet18(
    num_classes: int = 2,
    backbone_weights: str | None = None,
    freeze_backbone: bool = True,
    backbone: str = "torchvision",
) -> nn.Module:
    """A trained ResNet-18 backbone with the seed's two-hidden-layer head.

    Head: Linear(512, 256) ReLU Dropout(0.5) Linear(256, 256) ReLU Dropout(0.5)
    Linear(256, N). ``backbone="torchvision"``: torchvision's ResNet-18, ``backbone_weights`` a local ``.pth`` of it
    or a torchvision weight name (``"IMAGENET1K_V1"``, downloaded on first use). ``backbone="resnet18"``: the zoo's
    CIFAR-stem ResNet-18, ``backbone_weights`` a zoo weights name (``"resnet18.cifar10"``) or ``local-dir:DIR``.
    ``None`` leaves the backbone randomly initialised (tests, offline builds, rebuilding a trained checkpoint). The
    backbone is frozen (and kept in eval mode) unless ``freeze_backbone=False``.
    """
    body = _backbone(backbone, backbone_weights)
    if freeze_backbone:
        for p in body.parameters():
            p.requires_grad_(False)
    head = nn.Sequential(
        nn.Linear(512, 256),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(256, 256),
        nn.ReLU(True),
        nn.Dropout(0.5),
        nn.Linear(256, num_classes),
    )
    return TransferNet(body, head, freeze_backbone)
