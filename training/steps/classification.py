"""Classification steps: cross-entropy over classes, binary cross-entropy for logistic regression."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import plots
from ..data import BatchLoader, Tensors
from ..transforms import ImageTransform
from .base import Context, Step, eval_mode


def image_transform(ctx: Context, train: bool) -> ImageTransform | None:
    """The image transform of the run's preprocessing (augmenting for training), or None for non-image data."""
    pre = ctx.preprocessing
    if not pre or pre.get("kind") != "image" or ctx.data.train["x"].dtype != torch.uint8:
        return None
    size = pre["height"] if pre["height"] != ctx.data.train["x"].shape[-1] else None
    t = ImageTransform(
        pre["mean"], pre["std"], size=size, augment=ctx.profile.augment, channels_last=ctx.profile.channels_last
    )
    return t if train else t.eval()


def confusion(pred: torch.Tensor, target: torch.Tensor, n: int) -> torch.Tensor:
    """The (true, predicted) count matrix of ``n`` classes."""
    matrix = torch.zeros(n, n, dtype=torch.long)
    matrix.index_put_((target, pred), torch.ones_like(target), accumulate=True)
    return matrix


class ClassificationStep(Step):
    """Cross-entropy classification (images, n-gram contexts, feature vectors)."""

    headline = ("test_accuracy", "max", 1.0)

    monitor = ("test_accuracy", "max")

    def transform(self, train: bool) -> Any:
        return image_transform(self.ctx, train)

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            logits = self.ctx.model(batch["x"])
            loss = F.cross_entropy(logits, batch["y"], label_smoothing=self.ctx.profile.label_smoothing)
        self.update(loss)
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == batch["y"]).float().mean()}

    @torch.no_grad()
    def predict(self, loader: BatchLoader) -> tuple[torch.Tensor, torch.Tensor, float]:
        preds, targets, loss_sum = [], [], torch.zeros((), device=self.ctx.device)
        with eval_mode(self.ctx.raw_model) as model:
            for batch in loader.batches(0):
                with self.ctx.autocast():
                    logits = model(batch["x"]).float()
                loss_sum += F.cross_entropy(logits, batch["y"], reduction="sum")
                preds.append(logits.argmax(1))
                targets.append(batch["y"])
        return torch.cat(preds).cpu(), torch.cat(targets).cpu(), float(loss_sum) / loader.n

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        pred, target, loss = self.predict(self.eval_loader)
        self.last_eval = (pred, target)
        return {"test_loss": loss, "test_accuracy": float((pred == target).float().mean())}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        if not hasattr(self, "last_eval"):
            return {}
        pred, target = self.last_eval
        labels = self.ctx.data.labels or [str(i) for i in range(int(max(pred.max(), target.max())) + 1)]
        n = len(labels)
        matrix = confusion(pred, target, n)
        per_class = {
            labels[i]: float(matrix[i, i] / matrix[i].sum()) if matrix[i].sum() else float("nan") for i in range(n)
        }
        if n <= 50:
            plots.confusion_matrix(matrix, labels, out_dir / "confusion_matrix.png")
        return {"per_class_accuracy": per_class, "confusion_matrix": matrix.tolist()}

    def sample_images(self) -> torch.Tensor | None:
        x = self.ctx.data.train.get("x")
        return x[:32] if x is not None and x.dtype == torch.uint8 else None


class BinaryClassificationStep(Step):
    """Logistic regression: the model outputs P(class 1); binary cross-entropy."""

    headline = ("test_accuracy", "max", 1.0)

    monitor = ("test_accuracy", "max")

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        prob = self.ctx.model(batch["x"])
        loss = F.binary_cross_entropy(prob, batch["y"])
        self.update(loss)
        return {"loss": loss.detach(), "accuracy": ((prob >= 0.5).float() == batch["y"]).float().mean()}

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.ctx.data.test is not None
        x, y = (self.ctx.data.test[k].to(self.ctx.device) for k in ("x", "y"))
        prob = self.ctx.raw_model(x)
        return {
            "test_loss": float(F.binary_cross_entropy(prob, y)),
            "test_accuracy": float(((prob >= 0.5).float() == y).float().mean()),
        }

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        lin = self.ctx.raw_model[0]
        assert self.ctx.data.test is not None
        plots.decision_boundary(
            self.ctx.data.test["x"],
            self.ctx.data.test["y"].flatten(),
            lin.weight.detach().cpu().flatten(),
            float(lin.bias.detach()),
            out_dir / "fit.png",
        )
        return {}
