"""Sequence and vector steps: tagging, regression on vectors and series, the stateful RNN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import plots
from ..data import Tensors
from ..transforms import TrimPadding
from .base import Step, eval_mode


class RegressionStep(Step):
    """Mean-squared-error regression on feature vectors."""

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            loss = F.mse_loss(self.ctx.model(batch["x"]), batch["y"])
        stop_below = self.ctx.profile.extra.get("stop_below")
        if stop_below is not None and float(loss.detach()) < stop_below:
            self.stop = True
        return self.minimise(loss)

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.ctx.data.test is not None
        x, y = (self.ctx.data.test[k].to(self.ctx.device) for k in ("x", "y"))
        with eval_mode(self.ctx.raw_model) as model:
            pred = model(x)
        self.last_eval = (x.cpu(), y.cpu(), pred.cpu())
        return {"test_loss": float(F.mse_loss(pred, y))}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        if hasattr(self, "last_eval"):
            x, y, pred = self.last_eval
            plots.regression_fit(x[:, 0], y[:, 0], pred[:, 0], out_dir / "fit.png")
        return {}


class TaggingStep(Step):
    """POS tagging: per-token cross-entropy on padded index tensors."""

    headline = ("test_accuracy", "max", 1.0)

    monitor = ("test_accuracy", "max")

    def transform(self, train: bool) -> Any:
        return TrimPadding()

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        words = batch["words"]
        dropout = float(self.ctx.profile.extra.get("word_dropout", 0.0))
        if dropout:  # replace known words by UNK at random, so the char LSTM learns to carry unseen words
            drop = (torch.rand(words.shape, device=words.device) < dropout) & (words > 1)
            words = words.masked_fill(drop, 1)
        logits = self.ctx.model(words, batch["chars"])
        mask = batch["y"] != -100
        loss = F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), ignore_index=-100)
        self.update(loss)
        correct = ((logits.argmax(-1) == batch["y"]) & mask).sum()
        return {"loss": loss.detach(), "accuracy": correct.float() / mask.sum().clamp(min=1)}

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        correct = total = 0
        loss_sum = 0.0
        with eval_mode(self.ctx.raw_model) as model:
            for batch in self.eval_loader.batches(0):
                logits = model(batch["words"], batch["chars"])
                mask = batch["y"] != -100
                loss_sum += float(
                    F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), ignore_index=-100, reduction="sum")
                )
                correct += int(((logits.argmax(-1) == batch["y"]) & mask).sum())
                total += int(mask.sum())
        return {"test_loss": loss_sum / max(total, 1), "test_accuracy": correct / max(total, 1), "test_tokens": total}


class SequenceRegressionStep(Step):
    """Many-to-many regression (LSTM on the airline series); test = the whole series, scored after training data."""

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        return self.minimise(F.mse_loss(self.ctx.model(batch["x"]), batch["y"]))

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        test = self.ctx.data.test
        assert test is not None
        with eval_mode(self.ctx.raw_model) as model:
            pred = model(test["x"].to(self.ctx.device)).cpu()
        cut = int(test["train_steps"])
        self.last_eval = (test["y"].flatten(), pred.flatten(), cut)
        return {
            "test_loss": float(F.mse_loss(pred[:, cut:], test["y"][:, cut:])),
            "full_series_loss": float(F.mse_loss(pred, test["y"])),
        }

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        if hasattr(self, "last_eval"):
            y, pred, cut = self.last_eval
            plots.series(y, pred, cut, out_dir / "fit.png")
        return {}


class StatefulRegressionStep(Step):
    """S1's RNN: consecutive windows in order, the hidden state carried (and detached) between them."""

    def hidden(self, batch_size: int) -> torch.Tensor:
        rnn = self.ctx.raw_model.rnn
        return torch.zeros(rnn.num_layers, batch_size, rnn.hidden_size, device=self.ctx.device)

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        if start == 0 or getattr(self, "h", None) is None:
            self.h = self.hidden(self.ctx.profile.batch_size)
        return super().train_batches(epoch, start)

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        pred, h = self.ctx.model(batch["x"], self.h)
        self.h = h.detach()
        return self.minimise(F.mse_loss(pred, batch["y"]))

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        test = self.ctx.data.test
        assert test is not None
        model = self.ctx.raw_model
        x = test["x"].to(self.ctx.device).reshape(1, -1, test["x"].shape[-1])
        pred, _ = model(x, self.hidden(1))
        y = test["y"].reshape(1, -1, 1).to(self.ctx.device)
        self.last_eval = (x.flatten().cpu(), y.flatten().cpu(), pred.flatten().cpu())
        return {"test_loss": float(F.mse_loss(pred, y))}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        if hasattr(self, "last_eval"):
            x, y, pred = self.last_eval
            plots.series(y, pred, None, out_dir / "fit.png", inputs=x)
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"h": self.h.cpu()} if getattr(self, "h", None) is not None else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "h" in state:
            self.h = state["h"].to(self.ctx.device)
