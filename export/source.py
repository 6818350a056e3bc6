"""What an export starts from: a checkpoint, trained weights or a registry model, loaded as a :class:`Source`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from training.checkpoint import load_checkpoint, model_from_checkpoint, rebuild_kwargs
from zoo.weights import built_default_weights, is_weights_source
from zoo.weights import sha256_file as sha256


@dataclass
class Source:
    """What is being exported: a model instance plus what travels with it."""

    model: nn.Module
    name: str
    kwargs: dict[str, Any]
    task: str
    preprocessing: dict[str, Any] | None
    labels: list[str] | None
    meta: dict[str, Any]
    description: dict[str, Any]
    checkpoint: dict[str, Any] | None = None
    spec: zoo.ModelSpec = field(init=False)

    def __post_init__(self) -> None:
        self.spec = zoo.get_spec(self.name).resolved(**self.kwargs)
        pre = self.preprocessing or {}
        if pre.get("kind") == "image" and pre.get("height") and pre.get("width"):
            self.spec = self.spec.at_image_size(int(pre["height"]), int(pre["width"]))  # the size it was trained at


def load_source(
    source: str | Path, model_kwargs: dict[str, Any] | None = None, seed: int = 0, random_weights: bool = False
) -> Source:
    """A checkpoint file / run folder, trained weights (``lenet.mnist``), or a registry model name: its default
    trained weights, or fresh seeded weights with ``random_weights`` (refused without it when it has none)."""
    path = Path(source)
    name = str(source)
    if path.exists() or is_weights_source(name):
        ckpt = load_checkpoint(path if path.exists() else name)
        kwargs = rebuild_kwargs(ckpt)
        if "weights" in ckpt:
            w = ckpt["weights"]
            description = {"kind": "weights", "name": w["name"], "sha256": w["sha256"], "card": w["card"]}
        else:
            file = path if path.is_file() else path / "checkpoints" / "last.pt"
            description = {
                "kind": "checkpoint",
                "path": str(file.resolve()),
                "sha256": sha256(file),
                "recipe": ckpt.get("recipe"),
                "dataset": ckpt.get("dataset"),
                "metrics": _scalars(ckpt.get("metrics")),
            }
        return Source(
            model=model_from_checkpoint(ckpt),
            name=ckpt["model"]["name"],
            kwargs=kwargs,
            task=ckpt["model"]["task"],
            preprocessing=ckpt.get("preprocessing"),
            labels=ckpt.get("labels"),
            meta=ckpt.get("meta") or {},
            description=description,
            checkpoint=ckpt,
        )
    if any(sep in name for sep in ("/", "\\")) or name.endswith((".pt", ".pth")):
        raise FileNotFoundError(f"no checkpoint or run folder at {name}")
    spec = zoo.get_spec(name)  # ValueError with suggestions when unknown
    if not random_weights:
        trained = built_default_weights(
            name, ", name a checkpoint, or ask for fresh random weights explicitly (--random-weights)"
        )
        return load_source(trained.name)
    kwargs = {**spec.reference_kwargs, **(model_kwargs or {})}
    torch.manual_seed(seed)
    model = zoo.get_model(name, **kwargs).eval()
    return Source(
        model=model,
        name=name,
        kwargs=kwargs,
        task=spec.task,
        preprocessing=dict(spec.preprocessing) if spec.preprocessing else None,
        labels=list(spec.labels) if spec.labels else None,
        meta={},
        description={"kind": "registry", "name": name, "seed": seed, "note": "fresh (untrained) weights"},
    )


def _scalars(metrics: Any) -> dict[str, Any]:
    if not isinstance(metrics, dict):
        return {}
    return {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
