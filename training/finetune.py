"""Fine-tuning on your own photos: what a run starts from (``--from``), the size it reads, and its data.

``zoo-train finetune --from resnet18.cifar10 --data-dir PHOTOS`` (or :func:`finetune` from Python): the trained
backbone of a shipped or local card, or of a run's checkpoint, with a fresh head for the folder's classes (the
head is kept where the classes are the base's own), trained by the ``finetune`` recipe's two phases. ``--from
none`` trains the same architecture (``--arch``, default resnet18) from random weights, for comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import zoo
from zoo.heads import head_parameter_names

from .checkpoint import load_checkpoint, rebuild_kwargs
from .data import DataBundle, load_photo_folder

#: Photos are read at this size by architectures that take any size and were trained smaller (CIFAR's 32 px).
DEFAULT_SIZE = 64
SCRATCH_ARCH = "resnet18"


class FinetuneError(ValueError):
    """A base and a photo folder (or a size) that cannot work together; the message says what would."""


@dataclass
class Base:
    """What fine-tuning starts from."""

    model: str
    kwargs: dict[str, Any]
    state: dict[str, torch.Tensor] | None
    preprocessing: dict[str, Any]
    labels: list[str] | None
    record: dict[str, Any]


def resolve_base(source: str, arch: str | None = None) -> Base:
    """``source``: a card name (shipped or local), a checkpoint file or run folder, or ``none`` (``arch`` from
    random weights)."""
    if source.lower() == "none":
        name = arch or SCRATCH_ARCH
        spec = zoo.get_spec(name)
        _check_task(name, spec.task)
        return Base(name, dict(spec.reference_kwargs), None, dict(spec.preprocessing or {}), None, {"kind": "none"})
    if arch is not None:
        raise FinetuneError(f"--arch names the architecture of --from none; {source} brings its own")
    ckpt = load_checkpoint(source)
    name = ckpt["model"]["name"]
    _check_task(source, ckpt["model"]["task"])
    if "weights" in ckpt:
        record = {"kind": "weights", "name": ckpt["weights"]["name"], "sha256": ckpt["weights"]["sha256"]}
    else:
        record = {"kind": "checkpoint", "path": str(Path(source).resolve()), "recipe": ckpt.get("recipe")}
    pre = ckpt.get("preprocessing") or dict(zoo.get_spec(name).preprocessing or {})
    return Base(name, rebuild_kwargs(ckpt), ckpt["state_dict"], dict(pre), ckpt.get("labels"), record)


def _check_task(source: str, task: str) -> None:
    if task != "image-classification":
        shipped = ", ".join(w for w in zoo.list_weights() if zoo.get_spec(w.split(".")[0]).task == task)
        raise FinetuneError(
            f"{source} is a {task} model; fine-tuning on photos needs an image classifier, e.g. resnet18.cifar10, "
            f"inception.cifar10 or lenet.mnist" + (f" (not {shipped})" if shipped else "")
        )


def reads_size(base: Base, size: int) -> bool:
    """Whether the architecture computes logits from ``size`` x ``size`` images (one trial forward pass)."""
    channels = int(base.preprocessing.get("channels", 3))
    model = zoo.get_model(base.model, **base.kwargs).eval()
    try:
        with torch.no_grad():
            out = model(torch.zeros(1, channels, size, size))
    except Exception:
        return False
    return out.dim() == 2 and out.shape[0] == 1


def choose_size(base: Base, size: int | None) -> int:
    """The side the photos are read at: ``size`` if the architecture reads it; by default its own trained size, or
    :data:`DEFAULT_SIZE` where it reads any size and was trained smaller."""
    native = int(base.preprocessing.get("height") or 32)
    if size is not None:
        if size < 8:
            raise FinetuneError(f"--size {size} is too small; give 8 pixels or more")
        if size != native and not reads_size(base, size):
            raise FinetuneError(
                f"{base.model} reads {native}x{native} images only (a {size}x{size} input does not fit its layers); "
                f"drop --size (the photos are then resized to {native}) or fine-tune a model that takes any size, "
                f"e.g. --from resnet18.cifar10"
            )
        return size
    if native < DEFAULT_SIZE and reads_size(base, DEFAULT_SIZE):
        return DEFAULT_SIZE
    return native


def photo_preprocessing(base: Base, size: int) -> dict[str, Any]:
    """The base's normalisation at ``size``, photos cut to a centred square (as torchvision's Resize+CenterCrop)."""
    pre = base.preprocessing
    channels = int(pre.get("channels", 3))
    out = {
        "kind": "image",
        "height": size,
        "width": size,
        "channels": channels,
        "mean": list(pre.get("mean", [0.5] * channels)),
        "std": list(pre.get("std", [0.5] * channels)),
        "crop": "center",
    }
    if channels == 1:
        out["invert"] = "no"  # photos are photos: never inverted on a guess when served
    return out


def prepare(
    source: str,
    photos: Path,
    *,
    arch: str | None = None,
    size: int | None = None,
    val_fraction: float = 0.2,
    split_seed: int = 0,
    on_bad_image: str = "skip",
    progress: bool = True,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The :class:`~training.engine.TrainConfig` fields of a fine-tuning run: model, starting weights, data."""
    base = resolve_base(source, arch)
    side = choose_size(base, size)
    bundle: DataBundle = load_photo_folder(
        Path(photos),
        preprocessing=photo_preprocessing(base, side),
        val_fraction=val_fraction,
        split_seed=split_seed,
        on_bad_image=on_bad_image,
        progress=progress,
        log=log,
    )
    classes = list(bundle.labels or [])
    kwargs = {**base.kwargs, "num_classes": len(classes)}
    if "num_classes" not in zoo.get_spec(base.model).default_kwargs:
        raise FinetuneError(f"{base.model} has no num_classes argument: its head cannot be replaced")
    state = base.state
    if state is not None and base.labels != classes:  # other classes: the head starts fresh
        head = head_parameter_names(zoo.get_model(base.model, **kwargs))
        state = {k: v for k, v in state.items() if k not in head}
    record = {**base.record, "model": base.model, "size": side, "kept_head": state is base.state and state is not None}
    if log:
        what = record.get("name") or record.get("path") or "random weights"
        log(f"fine-tuning {base.model} from {what} at {side}x{side} px ({len(classes)} classes)")
    return {"model": base.model, "model_kwargs": kwargs, "init_state": state, "base": record, "data": bundle}


def profile_for(source: str, profile: str | None) -> str | None:
    """The profile asked for, else ``scratch`` for ``--from none`` (None: the recipe's default)."""
    return profile or ("scratch" if source.lower() == "none" else None)


def class_weights_override(profile: str | None) -> dict[str, Any]:
    """The ``extra`` override that weights the loss by class under ``profile`` (None: the recipe's default)."""
    from .recipes import get_recipe

    recipe = get_recipe("finetune")
    return {"extra": {**recipe.profile(profile or recipe.default).extra, "class_weights": True}}


def finetune(source: str, photos: str | Path, **options: Any) -> dict[str, Any]:
    """Fine-tune from Python: ``finetune("resnet18.cifar10", "photos/", epochs=3, out="runs/mine")``.

    ``options``: ``arch``, ``size``, ``val_fraction``, ``on_bad_image``, ``class_weights`` and any
    :class:`~training.engine.TrainConfig` field (``out``, ``seed``, ``device``, ``profile``, ``quiet``, ...);
    ``epochs``/``lr``/``batch_size`` override the profile; ``log`` receives the messages. Returns the run's final
    metrics.
    """
    from .engine import TrainConfig, Trainer

    data_keys = ("arch", "size", "val_fraction", "on_bad_image")
    data_options = {k: options.pop(k) for k in data_keys if k in options}
    overrides = dict(options.pop("overrides", {}))
    for key in ("epochs", "lr", "batch_size"):
        if key in options:
            overrides[key] = options.pop(key)
    profile = profile_for(source, options.pop("profile", None))
    if options.pop("class_weights", False):
        overrides.update(class_weights_override(profile))
    quiet = bool(options.get("quiet", False))
    log = options.pop("log", None)
    fields = prepare(
        source, Path(photos), split_seed=int(options.get("seed", 0)), progress=not quiet, log=log, **data_options
    )
    config = TrainConfig(recipe="finetune", profile=profile, overrides=overrides, **fields, **options)
    return Trainer(config, log=log).fit()
