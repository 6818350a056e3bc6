"""A classifier's head: find it, and load trained weights into a model whose head has another class count.

timm's convention (``create_model(..., pretrained=True, num_classes=N)``): every trained tensor is kept except the
final classification layer's, which starts fresh when its shape differs. Any other mismatch is an error: those
weights belong to another architecture or another build of it.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from .errors import ZooError


class HeadError(ZooError):
    """Trained weights do not fit a model even with its head replaced."""


def classifier_head(model: nn.Module) -> tuple[str, nn.Linear]:
    """The model's final classification layer (its last ``nn.Linear``) and its qualified name."""
    linears = [(name, m) for name, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise HeadError(f"{type(model).__name__} has no Linear layer to use as a classification head")
    return linears[-1]


def head_parameter_names(model: nn.Module) -> set[str]:
    """The qualified names of the head's parameters (``fc.weight``, ``fc.bias``)."""
    name, head = classifier_head(model)
    return {f"{name}.{p}" for p, _ in head.named_parameters()}


def load_with_new_head(model: nn.Module, state: Mapping[str, torch.Tensor], *, keep_head: bool = True) -> list[str]:
    """Load ``state`` into ``model``; the head's tensors are skipped where their shape differs (or always, with
    ``keep_head=False``). Returns the names of the tensors that kept their fresh initialisation."""
    own = model.state_dict()
    head = head_parameter_names(model)
    fresh = [k for k in head if k in state and (not keep_head or tuple(state[k].shape) != tuple(own[k].shape))]
    wrong = [
        f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
        for k, v in state.items()
        if k in own and k not in head and tuple(v.shape) != tuple(own[k].shape)
    ]
    missing = [k for k in own if k not in state and k not in head]
    unexpected = [k for k in state if k not in own]
    if wrong or missing or unexpected:
        details = "; ".join(
            f"{label}: {', '.join(items[:3])}{' ...' if len(items) > 3 else ''}"
            for label, items in (("other shapes", wrong), ("missing", missing), ("not in the model", unexpected))
            if items
        )
        raise HeadError(f"the trained weights do not fit this {type(model).__name__} beyond its head ({details})")
    model.load_state_dict({k: v for k, v in state.items() if k not in fresh}, strict=False)
    return sorted(fresh)
