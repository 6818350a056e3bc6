"""Learned features of a classifier and their t-SNE picture (S4): what the layer before the classifier's
last linear layer makes of each test sample, embedded in two dimensions and coloured by class."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from . import plots


def last_linear(model: nn.Module) -> nn.Linear:
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("t-SNE needs a classifier with a final linear layer; this model has none")
    return linears[-1]


@torch.no_grad()
def penultimate_features(
    model: nn.Module, batches: Iterable[dict[str, torch.Tensor]], limit: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The input of the model's last linear layer for every sample of ``batches`` (dicts with x and y)."""
    captured: list[torch.Tensor] = []
    handle = last_linear(model).register_forward_hook(lambda _m, inputs, _o: captured.append(inputs[0].flatten(1)))
    features, labels = [], []
    try:
        was_training = model.training
        model.eval()
        for batch in batches:
            model(batch["x"])
            features.append(captured.pop().float().cpu())
            labels.append(batch["y"].flatten().cpu())
            if limit is not None and sum(len(y) for y in labels) >= limit:
                break
        model.train(was_training)
    finally:
        handle.remove()
    return torch.cat(features).numpy(), torch.cat(labels).numpy()


def tsne(
    features: np.ndarray,
    labels: np.ndarray,
    names: list[str],
    path: Path,
    samples: int = 1000,
    seed: int = 0,
    title: str = "",
) -> dict[str, Any]:
    """Embed up to ``samples`` feature vectors (a fixed random subset) with scikit-learn's t-SNE, draw them
    to ``path``, and score the picture: leave-one-out 5-nearest-neighbour accuracy in the 2-d embedding
    (how well classes separate; chance is about 1 / classes)."""
    from sklearn.manifold import TSNE
    from sklearn.neighbors import NearestNeighbors

    if min(len(features), samples) < 10:
        raise ValueError(f"t-SNE needs at least 10 samples, got {min(len(features), samples)}")
    rng = np.random.default_rng(seed)
    index = np.sort(rng.permutation(len(features))[:samples])
    x, y = features[index], labels[index]
    perplexity = float(min(30, (len(x) - 1) / 3))
    points = TSNE(n_components=2, init="pca", perplexity=perplexity, random_state=seed).fit_transform(x)
    plots.tsne_scatter(points, y, names, path, title=title)
    neighbours = NearestNeighbors(n_neighbors=6).fit(points).kneighbors(points, return_distance=False)[:, 1:]
    votes = np.array([np.bincount(y[row], minlength=len(names)).argmax() for row in neighbours])
    return {"tsne": str(path), "tsne_samples": int(len(x)), "tsne_knn_accuracy": float((votes == y).mean())}
