"""Evaluate a checkpoint (or registry weights) on its test data with its recipe's own step: ``zoo-eval`` and
``zoo weights verify`` measure the same way training does."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from .checkpoint import dataset_options, model_from_checkpoint
from .data import load_dataset, random_subset
from .machine import resolve_device
from .recipes import get_recipe


def evaluate_checkpoint(
    ckpt: dict[str, Any],
    data_dir: Path | None = None,
    dataset: str | None = None,
    device: str = "auto",
    out: Path | None = None,
    tsne_samples: int = 0,
    eval_samples: int | None = None,
    seed: int = 0,
    tta: int | None = None,
) -> dict[str, Any]:
    """The recipe step's final evaluation of ``ckpt``; with ``out``, its plots (and t-SNE) too; with
    ``eval_samples``, on a fixed draw (by ``seed``) of that many test samples (every class in it) instead of all;
    with ``tta``, an image classifier's test-time views instead of its recipe's (0: one, 1: two, 2: six)."""
    from .steps import Context, get_step
    from .steps.classification import ClassificationStep

    rec = get_recipe(ckpt["recipe"])
    profile = rec.profile(ckpt["profile"]).with_saved(ckpt["hyperparameters"])
    if tta is not None:
        if (
            not issubclass(get_step(rec.step), ClassificationStep)
            or (ckpt.get("preprocessing") or {}).get("kind") != "image"
        ):
            raise ValueError(f"test-time augmentation is for image classifiers; {rec.name} is a {rec.step} recipe")
        profile = replace(profile, extra={**profile.extra, "tta": tta})
    if dataset is not None:
        rec.check_dataset(dataset)
    options = rec.dataset_options if dataset is not None else dataset_options(ckpt)
    data = load_dataset(dataset or ckpt["dataset"], data_dir, **options)
    if eval_samples and data.test is not None:
        data = replace(data, test=random_subset(data.test, eval_samples, seed=seed))
    dev = resolve_device(device)
    model = model_from_checkpoint(ckpt).to(dev)
    ctx = Context(
        recipe=rec,
        profile=profile,
        data=data,
        model=model,
        raw_model=model,
        device=dev,
        seed=seed,
        preprocessing=ckpt["preprocessing"],
    )
    step = get_step(rec.step)(ctx)
    metrics: dict[str, Any] = step.evaluate(final=True)
    metrics["eval_samples"] = step.eval_loader.n if step.eval_loader is not None else None
    metrics["data"] = data.description
    if out is None:
        return metrics
    out.mkdir(parents=True, exist_ok=True)
    metrics.update(step.artifacts(out, []))
    if tsne_samples:
        from .features import penultimate_features, tsne

        if step.eval_loader is None or "x" not in data.test or "y" not in data.test:  # type: ignore[operator]
            raise ValueError(f"--tsne needs a labelled test split; {rec.name}'s data has none")
        features, labels = penultimate_features(model, step.eval_loader.batches(0))
        names = data.labels or [str(i) for i in range(int(labels.max()) + 1)]
        metrics.update(
            tsne(
                features,
                labels,
                names,
                out / "tsne.png",
                samples=tsne_samples,
                title=f"t-SNE of {rec.model}'s features ({data.name} test)",
            )
        )
    return metrics
