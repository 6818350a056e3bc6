"""Pictures of a run: training curves, confusion matrices, sample grids, fits (matplotlib, Agg)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch


def _np(x: Any) -> Any:
    """Tensors → NumPy (matplotlib should not see torch tensors)."""
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else x


def save_figure(fig: Any, path: Path, dpi: int = 110) -> Path:
    """Write ``fig`` to ``path`` (folders made) and close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def training_curves(history: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """One panel per metric family (loss, accuracy, ...): train and test values per epoch."""
    epochs = [h["epoch"] for h in history]
    families: dict[str, list[str]] = {}
    for key in history[-1]:
        if key in ("epoch", "time_s", "eval_s", "lr", "samples_per_s", "global_step") or not isinstance(
            history[-1][key], (int, float)
        ):
            continue
        base = key.removeprefix("train_").removeprefix("test_")
        families.setdefault(base, []).append(key)
    fig, axes = plt.subplots(1, max(len(families), 1), figsize=(4.5 * max(len(families), 1), 3.5), squeeze=False)
    for ax, (base, keys) in zip(axes[0], families.items()):
        for key in keys:
            ax.plot(
                epochs, [h.get(key, math.nan) for h in history], marker="o" if len(epochs) < 30 else None, label=key
            )
        ax.set_xlabel("epoch")
        ax.set_title(base)
        ax.legend()
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def confusion_matrix(
    matrix: torch.Tensor, labels: Sequence[str], path: Path, title: str = "confusion matrix (test)"
) -> Path:
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    norm = _np(matrix.float() / matrix.sum(1, keepdim=True).clamp(min=1))
    matrix = _np(matrix)
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(
                    j,
                    i,
                    str(int(matrix[i, j])),
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
    ax.set_title(title)
    return save_figure(fig, path)


def image_grid(images: torch.Tensor, path: Path, nrow: int = 8, title: str = "") -> Path:
    """Images (N, C, H, W) in [0, 1] as one grid PNG."""
    from torchvision.utils import make_grid

    grid = make_grid(images.detach().cpu().float().clamp(0, 1), nrow=nrow, padding=2, pad_value=1.0)
    fig, ax = plt.subplots(figsize=(max(4, grid.shape[2] / 40), max(2, grid.shape[1] / 40)))
    ax.imshow(grid.permute(1, 2, 0).numpy(), cmap="gray" if images.shape[1] == 1 else None)
    ax.axis("off")
    if title:
        ax.set_title(title)
    return save_figure(fig, path)


def labelled_grid(images: torch.Tensor, titles: Sequence[str], path: Path, ncol: int = 8, title: str = "") -> Path:
    """Images (N, C, H, W) in [0, 1], each with its caption (e.g. predicted and true labels), as one PNG."""
    n = len(images)
    ncol = min(ncol, n)
    nrow = math.ceil(n / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(1.25 * ncol, 1.5 * nrow), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, caption in zip(axes.flat, images.detach().cpu().float().clamp(0, 1), titles):
        pixels = image.permute(1, 2, 0).numpy() if image.shape[0] == 3 else image[0].numpy()
        ax.imshow(pixels, cmap="gray", interpolation="nearest")
        ax.set_title(caption, fontsize=6)
    if title:
        fig.suptitle(title, fontsize=9)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=80)  # photos make big PNGs: a small grid of thumbnails is enough to see the mistakes
    plt.close(fig)
    return path


def codes_3d(codes: torch.Tensor, labels: torch.Tensor, path: Path) -> Path:
    """The autoencoder's 3-d codes, coloured by digit (S0/S1's 3-D plot)."""
    fig = plt.figure(figsize=(6, 5))
    ax = fig.add_subplot(projection="3d")
    codes, labels = _np(codes), _np(labels)
    points = ax.scatter(codes[:, 0], codes[:, 1], codes[:, 2], c=labels, cmap="tab10", s=4)
    fig.colorbar(points, ax=ax, shrink=0.6, label="digit")
    ax.set_title("3-d codes of test digits")
    return save_figure(fig, path)


def tsne_scatter(points: Any, labels: Any, names: Sequence[str], path: Path, title: str = "") -> Path:
    """A 2-d embedding (t-SNE) of learned features, one colour per class, with a legend."""
    points, labels = _np(points), _np(labels)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    for index, name in enumerate(names):
        mask = labels == index
        if mask.any():
            ax.scatter(points[mask, 0], points[mask, 1], s=5, color=cmap(index % cmap.N), label=str(name))
    ax.legend(markerscale=3, fontsize=8, loc="best", frameon=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE of learned features")
    return save_figure(fig, path)


def regression_fit(x: torch.Tensor, y: torch.Tensor, pred: torch.Tensor, path: Path) -> Path:
    order = _np(torch.argsort(x))
    x, y, pred = _np(x), _np(y), _np(pred)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.scatter(x, y, s=8, alpha=0.6, label="data")
    ax.plot(x[order], pred[order], "r-", lw=2, label="model")
    ax.legend()
    return save_figure(fig, path)


def decision_boundary(x: torch.Tensor, y: torch.Tensor, w: torch.Tensor, b: float, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 4))
    x, y = _np(x), _np(y)
    ax.scatter(x[:, 0], x[:, 1], c=y, cmap="RdYlBu", s=14)
    xs = _np(torch.linspace(float(x[:, 0].min()), float(x[:, 0].max()), 50))
    if abs(float(w[1])) > 1e-12:
        ax.plot(xs, (-float(w[0]) * xs - b) / float(w[1]), "k-", label="P = 0.5")
        ax.set_ylim(float(x[:, 1].min()) - 5, float(x[:, 1].max()) + 5)
        ax.legend()
    return save_figure(fig, path)


def curves(points: torch.Tensor, paintings: torch.Tensor, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    points, paintings = _np(points), _np(paintings)
    ax.plot(points, 2 * points**2 + 1, c="#74BCFF", lw=3, label="upper bound")
    ax.plot(points, points**2, c="#FF9359", lw=3, label="lower bound")
    for p in paintings:
        ax.plot(points, p, c="#4AD631", lw=1)
    ax.legend(loc="upper right")
    ax.set_title("generated paintings")
    return save_figure(fig, path)


def series(
    y: torch.Tensor, pred: torch.Tensor, cut: int | None, path: Path, inputs: torch.Tensor | None = None
) -> Path:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    y, pred, inputs = _np(y), _np(pred), _np(inputs)
    if inputs is not None:
        ax.plot(inputs, "b-", alpha=0.4, label="input")
    ax.plot(y, "k-", label="target")
    ax.plot(pred, "r--", label="prediction")
    if cut is not None:
        ax.axvline(cut, color="gray", ls=":", label="train | test")
    ax.legend()
    return save_figure(fig, path)


def returns(values: Sequence[float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(values, lw=1, alpha=0.6, label="episode return")
    if len(values) >= 10:
        smooth = torch.tensor(values).unfold(0, 10, 1).mean(1)
        ax.plot(range(9, len(values)), _np(smooth), "r-", label="mean of 10")
    ax.set_xlabel("episode")
    ax.legend()
    return save_figure(fig, path)


def comparison(
    series_by_label: Mapping[str, Sequence[float]],
    path: Path,
    xlabel: str = "step",
    ylabel: str = "loss",
    ylim: tuple[float, float] | None = None,
) -> Path:
    """Several runs' curves on one plot (the seeds' optimiser comparison)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, values in series_by_label.items():
        ax.plot(values, label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ylim:
        ax.set_ylim(*ylim)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return save_figure(fig, path)
