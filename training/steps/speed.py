"""The speed step: CIFAR-10 classification with every trick of a time-to-accuracy recipe (after the published
description of airbench94, K. Jordan 2024) switched on by default, each a named profile field (``extra``) so that
its effect can be measured alone. Alternating flips, Lookahead, scaled batch-norm biases and test-time augmentation
belong to every classification step (:mod:`training.steps.classification`); this step adds what needs its model:

- ``whiten``: the stem's 2x2 filters whiten the training images' patches (fitted on ``whiten_samples`` images,
  then fixed); its bias trains for the first ``whiten_bias_epochs`` epochs only;
- ``dirac``: partial identity initialisation of the convolutions.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .base import Context
from .classification import ClassificationStep


class SpeedStep(ClassificationStep):
    """Classification with whitening, identity init, scaled bias rates, Lookahead, alternating flips and TTA."""

    supports_ddp = False
    trick_defaults = {"alternate_flip": True, "lookahead": True, "bias_scale": 64.0, "tta": 2}

    def __init__(self, ctx: Context) -> None:
        extra = ctx.profile.extra
        self.settings: dict[str, Any] = {
            "whiten": bool(extra.get("whiten", True)),
            "whiten_samples": int(extra.get("whiten_samples", 5000)),
            "whiten_bias_epochs": int(extra.get("whiten_bias_epochs", 3)),
            "dirac": bool(extra.get("dirac", True)),
        }
        super().__init__(ctx)

    def begin(self, out_dir: Any) -> None:
        """Before a fresh run's first step (never when evaluating trained weights, nor on resume): the identity
        initialisation and the whitening filters from the data, then Lookahead's first average."""
        if not self.steps_done:
            if self.settings["dirac"]:
                _identity_init(self.ctx.raw_model)
            if self.settings["whiten"]:
                self._fit_whitening()
        super().begin(out_dir)

    def _fit_whitening(self) -> None:
        from zoo.models.speednet import whitening_filters

        model = self.ctx.raw_model
        stem = getattr(model, "whiten", None)
        if not isinstance(stem, nn.Conv2d):
            raise ValueError(
                f"profile field whiten=true needs a model with a `whiten` stem; {type(model).__name__} has none"
            )
        g = torch.Generator().manual_seed(self.ctx.seed)
        x = self.ctx.data.train["x"]
        pick = torch.randperm(len(x), generator=g)[: self.settings["whiten_samples"]]
        transform = self.transform(train=False)
        images = transform({"x": x[pick]})["x"].float().contiguous() if transform is not None else x[pick].float()
        with torch.no_grad():
            stem.weight.copy_(whitening_filters(images.cpu(), stem.kernel_size[0]).to(stem.weight))
            if stem.bias is not None:
                stem.bias.zero_()
        stem.weight.requires_grad_(False)

    def train_batches(self, epoch: int, start: int) -> Any:
        stem = getattr(self.ctx.raw_model, "whiten", None)
        if isinstance(stem, nn.Conv2d) and stem.bias is not None:
            stem.bias.requires_grad_(epoch < self.settings["whiten_bias_epochs"])
        return super().train_batches(epoch, start)


def _identity_init(model: nn.Module) -> None:
    """Partial identity initialisation: each 3x3 convolution's first filters (as many as it has input channels)
    start as the identity, so the deep path begins close to a shallow one."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                w = module.weight
                torch.nn.init.dirac_(w[: min(w.shape[0], w.shape[1])])
