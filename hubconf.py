"""torch.hub entry points: one per zoo model, taking the same ``weights`` as :func:`zoo.get_model`.

>>> import torch
>>> model = torch.hub.load("path/to/torch-model-zoo", "lenet", source="local", weights="mnist")
>>> model = torch.hub.load("path/to/torch-model-zoo", "resnet", source="local")        # random weights

Names with a hyphen (``mnist-cnn``) are entry points too: ``torch.hub.load(REPO, "mnist-cnn", ...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

dependencies = ["torch", "torchvision", "safetensors", "numpy"]


def _entry(name: str) -> Callable[..., Any]:
    def load(weights: Any = None, **kwargs: Any) -> Any:
        import zoo

        return zoo.get_model(name, weights=weights, **kwargs)

    load.__name__ = name.replace("-", "_")
    load.__doc__ = f"zoo.get_model({name!r}, weights=..., **kwargs): weights None (random), 'DEFAULT', or a tag."
    return load


def _register() -> None:
    import zoo

    for name in zoo.list_models():
        globals()[name] = _entry(name)


_register()
