"""Fine-tuning a trained classifier on a photo folder: the new head first, then the whole network.

In the spirit of fastai's ``fine_tune``: ``freeze_epochs`` epochs train only the fresh head (the backbone's weights
stay as trained; its batch-norm statistics follow the new photos), then every layer trains, the backbone at
``backbone_lr_scale`` times the head's rate, under a warm-up then cosine schedule. Evaluation adds macro-F1; the
report adds per-class precision/recall/F1, the confusion matrix (PNG and CSV), the most-confused pairs and a grid
of misclassified validation photos.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from zoo.heads import head_parameter_names

from .. import plots
from ..data import Tensors, write_scan
from .base import Context
from .classification import ClassificationStep, confusion

#: The profile's ``extra`` settings this step reads, and their defaults.
DEFAULTS = {"freeze_epochs": 1, "backbone_lr_scale": 0.2, "warmup": 0.15, "class_weights": False}


def class_report(matrix: torch.Tensor, labels: list[str]) -> dict[str, Any]:
    """Per-class precision, recall, F1 and support, and their macro averages, from a confusion matrix
    (rows: true class, columns: predicted)."""
    m = matrix.double()
    tp, true, pred = m.diag(), m.sum(1), m.sum(0)
    precision = torch.where(pred > 0, tp / pred.clamp(min=1), torch.zeros_like(tp))
    recall = torch.where(true > 0, tp / true.clamp(min=1), torch.zeros_like(tp))
    f1 = torch.where(precision + recall > 0, 2 * precision * recall / (precision + recall).clamp(min=1e-12), 0 * tp)
    present = true > 0
    per_class = {
        c: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(n)}
        for c, p, r, f, n in zip(labels, precision, recall, f1, true)
    }
    return {
        "per_class": per_class,
        "macro_precision": float(precision[present].mean()) if present.any() else 0.0,
        "macro_recall": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "accuracy": float(tp.sum() / m.sum().clamp(min=1)),
    }


def most_confused(matrix: torch.Tensor, labels: list[str], top: int = 5) -> list[dict[str, Any]]:
    """The largest off-diagonal cells: which true class was most often read as which other one."""
    off = matrix.clone()
    off.fill_diagonal_(0)
    values, index = off.flatten().sort(descending=True)
    n = len(labels)
    return [
        {"true": labels[int(i) // n], "predicted": labels[int(i) % n], "count": int(v)}
        for v, i in zip(values[:top], index[:top])
        if int(v) > 0
    ]


class FinetuneStep(ClassificationStep):
    """Two-phase fine-tuning of an image classifier (see the module's docstring)."""

    def __init__(self, ctx: Context) -> None:
        self.settings = {**DEFAULTS, **{k: v for k, v in ctx.profile.extra.items() if k in DEFAULTS}}
        self.head_names = head_parameter_names(ctx.raw_model)
        super().__init__(ctx)
        self.freeze_steps = int(self.settings["freeze_epochs"]) * self.steps_per_epoch()
        total = self.steps_per_epoch() * ctx.profile.epochs
        self.schedulers = {"model": torch.optim.lr_scheduler.LambdaLR(self.optimizers["model"], self._factor(total))}
        labels = ctx.data.train["y"]
        n = len(ctx.data.labels or []) or int(labels.max()) + 1
        counts = torch.bincount(labels, minlength=n).clamp(min=1).double()
        weights = (counts.sum() / (n * counts)).float() if self.settings["class_weights"] else None
        self.class_weights = weights.to(ctx.device) if weights is not None else None

    def _factor(self, total: int) -> Any:
        freeze, warmup = self.freeze_steps, float(self.settings["warmup"])

        def factor(step: int) -> float:
            if step < freeze:
                return 1.0  # the head alone, at its full rate
            span = max(total - freeze, 1)
            t = (step - freeze) / span
            if t < warmup:
                return 0.04 + 0.96 * t / warmup
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (t - warmup) / max(1 - warmup, 1e-9))))

        return factor

    def configure_optimizers(self) -> dict[str, Any]:
        p = self.ctx.profile
        head = [q for n, q in self.ctx.raw_model.named_parameters() if n in self.head_names]
        body = [q for n, q in self.ctx.raw_model.named_parameters() if n not in self.head_names]
        groups = [
            {"params": body, "lr": p.lr * float(self.settings["backbone_lr_scale"])},
            {"params": head, "lr": p.lr},
        ]
        if p.optimizer == "sgd":
            return {"model": torch.optim.SGD(groups, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov)}
        return {"model": torch.optim.AdamW(groups, lr=p.lr, betas=p.betas, weight_decay=p.weight_decay)}

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        frozen = epoch < int(self.settings["freeze_epochs"])
        for name, q in self.ctx.raw_model.named_parameters():
            q.requires_grad_(not frozen or name in self.head_names)
        return super().train_batches(epoch, start)

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            logits = self.ctx.model(batch["x"])
            loss = F.cross_entropy(
                logits, batch["y"], weight=self.class_weights, label_smoothing=self.ctx.profile.label_smoothing
            )
        self.update(loss)
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == batch["y"]).float().mean()}

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        metrics = super().evaluate(final)
        pred, target = self.last_eval
        n = len(self.ctx.data.labels or []) or int(max(pred.max(), target.max())) + 1
        metrics["test_macro_f1"] = class_report(confusion(pred, target, n), [str(i) for i in range(n)])["macro_f1"]
        return metrics

    def begin(self, out_dir: Path) -> None:
        if self.ctx.data.found is not None:
            write_scan(self.ctx.data.found, out_dir)

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        extra = super().artifacts(out_dir, history)
        if not hasattr(self, "last_eval"):
            return extra
        pred, target = self.last_eval
        labels = list(self.ctx.data.labels or [])
        matrix = torch.tensor(extra["confusion_matrix"])
        report = class_report(matrix, labels)
        report["most_confused"] = most_confused(matrix, labels)
        with open(out_dir / "confusion_matrix.csv", "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["true \\ predicted", *labels])
            writer.writerows([label, *row] for label, row in zip(labels, matrix.tolist()))
        (out_dir / "report.json").write_text(json.dumps(report, indent=2))
        wrong = (pred != target).nonzero().flatten()
        wrong = wrong[torch.randperm(len(wrong), generator=torch.Generator().manual_seed(0))[:32]].sort().values
        if len(wrong):
            assert self.ctx.data.test is not None
            images = self.ctx.data.test["x"][wrong].float() / 255
            titles = [f"{labels[int(pred[i])]}\n(true: {labels[int(target[i])]})" for i in wrong]
            plots.labelled_grid(images, titles, out_dir / "misclassified.png", title="misclassified validation photos")
        return {
            **extra,
            "macro_f1": report["macro_f1"],
            "per_class": report["per_class"],
            "most_confused": report["most_confused"],
        }
