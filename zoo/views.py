"""Test-time views of an image classifier: logits averaged over the image, its mirror and 1-pixel shifts.

One definition for training's final evaluation (``extra.tta``), ``zoo-eval --tta`` and an export that carries the
views inside the graph (``zoo-export NAME --views``), so a served model answers as the evaluation measured.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

#: How many views each level averages: 0 the image; 1 and its mirror; 2 and both 1-pixel diagonal shifts of both.
VIEWS = {0: 1, 1: 2, 2: 6}


def view_count(level: int) -> int:
    """How many views ``level`` averages; ValueError naming the levels for any other."""
    if level not in VIEWS:
        raise ValueError(f"test-time views level {level}: choose 0 (one view), 1 (two) or 2 (six)")
    return VIEWS[level]


def tta_logits(model: nn.Module, x: torch.Tensor, level: int, plain: torch.Tensor | None = None) -> torch.Tensor:
    """Logits averaged over the views of ``level`` (see :data:`VIEWS`); ``plain``, the image's own logits where
    already computed, is not computed again."""

    def mirrored(images: torch.Tensor, out: torch.Tensor | None = None) -> torch.Tensor:
        out = model(images).float() if out is None else out.float()
        return out if level == 0 else 0.5 * (out + model(images.flip(-1)).float())

    logits = mirrored(x, plain)
    if level < 2:
        return logits
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = [padded[..., :h, :w].contiguous(), padded[..., 2 : h + 2, 2 : w + 2].contiguous()]
    if x.is_contiguous(memory_format=torch.channels_last):
        shifted = [s.contiguous(memory_format=torch.channels_last) for s in shifted]
    return 0.5 * logits + 0.5 * torch.stack([mirrored(s) for s in shifted]).mean(0)


class TestTimeViews(nn.Module):
    """``classifier`` answering with its logits averaged over the views of ``level`` (1: two, 2: six)."""

    __test__ = False  # not a pytest class

    def __init__(self, classifier: nn.Module, level: int) -> None:
        super().__init__()
        view_count(level)  # a level it has no views for is refused here
        self.classifier = classifier
        self.level = level

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tta_logits(self.classifier, x, self.level)
