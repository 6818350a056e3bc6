"""Checkpoints: everything needed to rebuild and use a model without the training code.

A checkpoint is a plain dict saved with :func:`torch.save` that loads with ``weights_only=True``
(tensors, numbers, strings, lists and dicts only). It is written atomically: to a temporary file
in the same folder, flushed, then renamed over the target.
"""

from __future__ import annotations

import os
import platform
import random
import zipfile
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

import zoo
from zoo.errors import ZooError
from zoo.weights import is_weights_source

if TYPE_CHECKING:
    from zoo.weights import Weights

FORMAT = "torch-model-zoo/checkpoint"
FORMAT_VERSION = 1


class CheckpointError(ZooError):
    """A file is missing, truncated, or not one of our checkpoints."""


def library_versions() -> dict[str, str]:
    import torchvision

    versions = {
        "torch-model-zoo": zoo.__version__,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }
    if torch.version.cuda:  # the CUDA the build of torch was made for (a CPU build has none)
        versions["cuda"] = torch.version.cuda
    return {k: str(v) for k, v in versions.items()}  # TorchVersion is a str subclass weights_only refuses


def rng_state() -> dict[str, Any]:
    """Global RNG states (torch, CUDA, NumPy's legacy global, Python's) in weights_only-safe form."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": [list(x) if isinstance(x, tuple) else x for x in random.getstate()],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def build_checkpoint(
    *,
    model_name: str,
    model_kwargs: dict[str, Any],
    state_dict: dict[str, torch.Tensor],
    task: str,
    preprocessing: dict[str, Any] | None,
    labels: list[str] | None,
    meta: dict[str, Any],
    recipe: str,
    profile: str,
    hyperparameters: dict[str, Any],
    metrics: dict[str, Any],
    dataset: str,
    train_state: dict[str, Any] | None = None,
    precision: str | None = None,
) -> dict[str, Any]:
    """Assemble a checkpoint dict (``train_state`` carries what ``--resume`` needs; ``precision`` is the format
    the run computed in, fp32 or bf16 autocast: the weights themselves are always fp32)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": {"name": model_name, "kwargs": dict(model_kwargs), "task": task},
        "state_dict": {k: v.detach().cpu() for k, v in state_dict.items()},
        "preprocessing": preprocessing,
        "labels": labels,
        "meta": meta,
        "recipe": recipe,
        "profile": profile,
        "dataset": dataset,
        "hyperparameters": hyperparameters,
        "precision": precision,
        "metrics": metrics,
        "versions": library_versions(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "train_state": train_state,
    }


def save_checkpoint(checkpoint: dict[str, Any], path: str | Path) -> Path:
    """Write atomically: temp file in the same folder, fsync, rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(checkpoint, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def checkpoint_from_weights(weights: str | Weights) -> dict[str, Any]:
    """A checkpoint dict (no training state) from trained weights of the registry (``lenet.mnist``): what every
    tool that takes a checkpoint needs, so that each also takes a weights name."""
    from zoo.weights import Weights, get_weights

    w = weights if isinstance(weights, Weights) else get_weights(weights)
    state, header = w.load()
    t = w.card.get("training") or {}
    return build_checkpoint(
        model_name=w.model,
        model_kwargs=w.model_kwargs,
        state_dict=state,
        task=w.card["task"],
        preprocessing=w.preprocessing,
        labels=w.labels,
        meta=header.get("meta") or {},
        recipe=t["recipe"],
        profile=t["profile"],
        hyperparameters=t.get("hyperparameters") or {},
        metrics=dict(w.metrics),
        dataset=(w.card.get("dataset") or {}).get("name", ""),
    ) | {"weights": {"name": w.name, "sha256": w.sha256, "card": dict(w.card)}}


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load and validate a checkpoint (``weights_only=True``); clear errors for bad files.

    ``path`` may be a run folder, in which case its ``checkpoints/last.pt`` is used, the name of trained
    weights in the registry (``mnist-cnn.mnist``), or a bare model name (``resnet18``: its default weights).
    """
    if is_weights_source(path):
        return checkpoint_from_weights(str(path))
    if str(path) in zoo.list_models() and not Path(path).exists():
        from zoo.weights import built_default_weights

        return checkpoint_from_weights(built_default_weights(str(path), ", or name a checkpoint"))
    path = Path(path)
    if path.is_dir():
        candidate = path / "checkpoints" / "last.pt"
        if not candidate.is_file():
            raise CheckpointError(f"{path} is a folder without checkpoints/last.pt; pass a checkpoint file")
        path = candidate
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (an interrupted write?); use another checkpoint")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (truncated, or a different kind of file). "
            f"Re-run training or use the run's other checkpoint (last.pt / best.pt)."
        )
    try:
        checkpoint = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as e:  # zip errors, unpickling refusals, truncated records
        raise CheckpointError(
            f"{path} could not be loaded safely ({type(e).__name__}: {str(e).splitlines()[0][:200]}). "
            f"It is truncated, corrupt, or holds objects other than tensors and plain data."
        ) from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a torch-model-zoo checkpoint (no 'format': {FORMAT!r}). "
            f"A bare state_dict can be loaded with zoo.get_model(NAME).load_state_dict(torch.load(PATH))."
        )
    if checkpoint.get("format_version", 0) > FORMAT_VERSION:
        raise CheckpointError(f"{path} was written by a newer torch-model-zoo (format {checkpoint['format_version']})")
    return checkpoint


def dataset_options(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The options that load a checkpoint's dataset again: its recipe's, then those the run saved (a photo
    folder's place, size and split)."""
    from .recipes import get_recipe

    saved = (checkpoint.get("meta") or {}).get("dataset_options") or {}
    return {**get_recipe(checkpoint["recipe"]).dataset_options, **saved}


def rebuild_kwargs(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """Builder kwargs to rebuild a checkpoint's model: as trained, but never fetching pretrained
    weights (the checkpoint's own weights include the backbone)."""
    return zoo.get_spec(checkpoint["model"]["name"]).rebuild_kwargs(checkpoint["model"]["kwargs"])


def model_from_checkpoint(checkpoint: dict[str, Any] | str | Path) -> torch.nn.Module:
    """Rebuild the model (eval mode, CPU) from a checkpoint dict or path."""
    if not isinstance(checkpoint, dict):
        checkpoint = load_checkpoint(checkpoint)
    info = checkpoint["model"]
    kwargs = rebuild_kwargs(checkpoint)
    model = zoo.get_model(info["name"], **kwargs)
    try:
        model.load_state_dict(checkpoint["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights do not fit {info['name']}({kwargs}): {str(e)[:300]}") from None
    return model.eval()
