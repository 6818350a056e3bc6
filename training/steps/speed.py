"""The speed step: CIFAR-10 classification with every trick of a time-to-accuracy recipe (after the published
description of airbench94, K. Jordan 2024) switched on by default, each a named profile field (``extra``) so that
its effect can be measured alone. Alternating flips, Lookahead, scaled batch-norm biases and test-time augmentation
belong to every classification step (:mod:`training.steps.classification`), and so does ``whiten`` (the
stem's 2x2 filters whiten the training images' patches); this step switches them all on and adds ``dirac``,
partial identity initialisation of the 3x3 convolutions.
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
    trick_defaults = {"alternate_flip": True, "lookahead": True, "bias_scale": 64.0, "tta": 2, "whiten": True}

    def __init__(self, ctx: Context) -> None:
        self.dirac = bool(ctx.profile.extra.get("dirac", True))
        super().__init__(ctx)

    def begin(self, out_dir: Any) -> None:
        """Before a fresh run's first step: the identity initialisation, then the classification tricks' own."""
        if self.dirac and not self.steps_done:
            _identity_init(self.ctx.raw_model)
        super().begin(out_dir)


def _identity_init(model: nn.Module) -> None:
    """Partial identity initialisation: each 3x3 convolution's first filters (as many as it has input channels)
    start as the identity, so the deep path begins close to a shallow one."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                w = module.weight
                torch.nn.init.dirac_(w[: min(w.shape[0], w.shape[1])])
