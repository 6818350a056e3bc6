"""Classification steps: cross-entropy over classes, binary cross-entropy for logistic regression.

Every cross-entropy recipe may switch on training tricks of a time-to-accuracy recipe (after airbench94's published
description, K. Jordan 2024), each a profile ``extra`` field, all off unless a profile sets them:

- ``alternate_flip``: each image is flipped at random in the first epoch and on every other epoch after, the
  opposite way (every image is seen both ways within any two epochs); replaces ``augment.flip``'s coin;
- ``lookahead``: every 5 steps the weights move to an exponential average of themselves (its decay rising to
  0.95^5 with the cube of progress), and the run ends on that average;
- ``bias_scale``: batch-norm biases learn at this multiple of the rate (their weight decay divided by it);
- ``tta``: the final evaluation averages 1 (0), 2 (1: and the mirror) or 6 views (2: and two 1-pixel translations
  of both); the single view's accuracy is reported beside it;
- ``whiten``: the stem (the model's ``whiten`` convolution, else its first) starts as filters that whiten the
  training images' patches (fitted on ``whiten_samples`` images; a stem with fewer than 2 x C x k^2 filters keeps
  the directions of largest variance), then stays fixed; its bias trains for the first ``whiten_bias_epochs`` only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from zoo.views import tta_logits

from .. import plots
from ..data import BatchLoader, Tensors
from ..transforms import ImageTransform
from .base import Context, Step, build_optimizer, eval_mode

#: The tricks a profile can switch on (``extra`` fields), and their values when it does not.
TRICKS: dict[str, Any] = {
    "alternate_flip": False,
    "lookahead": False,
    "bias_scale": 1.0,
    "tta": 0,
    "whiten": False,
    "whiten_samples": 5000,
    "whiten_bias_epochs": 3,
}
#: Lookahead's period in steps, and its final decay.
LOOKAHEAD_EVERY = 5
LOOKAHEAD_DECAY = 0.95**5


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
    """Cross-entropy classification (images, n-gram contexts, feature vectors), with the module's opt-in tricks."""

    headline = ("test_accuracy", "max", 1.0)

    monitor = ("test_accuracy", "max")

    #: The tricks' values where a profile leaves them out (a subclass may switch them on by default).
    trick_defaults: dict[str, Any] = TRICKS

    def __init__(self, ctx: Context) -> None:
        extra = ctx.profile.extra
        self.tricks = {k: type(d)(extra.get(k, d)) for k, d in {**TRICKS, **self.trick_defaults}.items()}
        self.epoch = 0
        self.steps_done = 0
        self.average: list[torch.Tensor] = []
        super().__init__(ctx)
        self.total_steps = self.steps_per_epoch() * ctx.profile.epochs
        if self.tricks["alternate_flip"]:
            g = torch.Generator().manual_seed(ctx.seed + 17)
            self.first_flip = (torch.rand(len(ctx.data.train["y"]), generator=g) < 0.5).to(ctx.device)

    def begin(self, out_dir: Any) -> None:
        """Before a fresh run's first step (never when evaluating trained weights, nor on resume, which restores its
        own): the whitening filters from the data, then Lookahead's first average."""
        if self.tricks["whiten"] and not self.steps_done:
            self._fit_whitening()
        if self.tricks["lookahead"] and not self.steps_done:
            self.average = [t.detach().clone() for t in self.ctx.raw_model.state_dict().values()]

    def stem(self) -> nn.Conv2d:
        """The convolution ``whiten`` sets: the model's ``whiten`` stem where it has one, else its first."""
        model = self.ctx.raw_model
        named = getattr(model, "whiten", None)
        stem = (
            named
            if isinstance(named, nn.Conv2d)
            else next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
        )
        if stem is None or stem.groups != 1 or stem.kernel_size[0] != stem.kernel_size[1]:
            raise ValueError(
                f"profile field whiten=true needs a model whose first layer is a square convolution; "
                f"{type(model).__name__}'s is not"
            )
        dim = stem.in_channels * stem.kernel_size[0] ** 2
        if stem.out_channels % 2 or stem.out_channels > 2 * dim:
            raise ValueError(
                f"profile field whiten=true needs a stem of at most 2 x {dim} filters, an even number "
                f"(each direction and its negative); {type(model).__name__}'s has {stem.out_channels}"
            )
        return stem

    def _fit_whitening(self) -> None:
        from zoo.models.speednet import whitening_filters

        stem = self.stem()
        g = torch.Generator().manual_seed(self.ctx.seed)
        x = self.ctx.data.train["x"]
        pick = torch.randperm(len(x), generator=g)[: int(self.tricks["whiten_samples"])]
        transform = self.transform(train=False)
        images = transform({"x": x[pick]})["x"].float().contiguous() if transform is not None else x[pick].float()
        k, dim = stem.kernel_size[0], stem.in_channels * stem.kernel_size[0] ** 2
        filters = whitening_filters(
            images.cpu(), k, keep=stem.out_channels // 2 if stem.out_channels < 2 * dim else None
        )
        with torch.no_grad():
            stem.weight.copy_(filters.to(stem.weight))
            if stem.bias is not None:
                stem.bias.zero_()
        stem.weight.requires_grad_(False)

    def train_batches(self, epoch: int, start: int) -> Any:
        if self.tricks["whiten"]:
            stem = self.stem()
            if stem.bias is not None:
                stem.bias.requires_grad_(epoch < int(self.tricks["whiten_bias_epochs"]))
        return super().train_batches(epoch, start)

    def transform(self, train: bool) -> Any:
        return image_transform(self.ctx, train)

    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> BatchLoader:
        loader = super().make_loader(split, batch_size, shuffle=shuffle, train=train)
        if split == "train" and self.tricks["alternate_flip"]:  # the flip needs to know which image it is
            loader.tensors["index"] = torch.arange(loader.n, device=loader.device)
        return loader

    def configure_optimizers(self) -> dict[str, Optimizer]:
        scale = float(self.tricks["bias_scale"])
        if scale == 1.0:
            return super().configure_optimizers()
        p = self.ctx.profile
        norm_biases: list[nn.Parameter] = []
        others: list[nn.Parameter] = []
        for module in self.ctx.raw_model.modules():
            for name, param in module.named_parameters(recurse=False):
                is_norm_bias = isinstance(module, nn.modules.batchnorm._BatchNorm) and name == "bias"
                (norm_biases if is_norm_bias else others).append(param)
        optimizer = build_optimizer(others, p)
        optimizer.add_param_group({"params": norm_biases, "lr": p.lr * scale, "weight_decay": p.weight_decay / scale})
        return {"model": optimizer}

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if self.tricks["alternate_flip"]:
            flip = self.first_flip[batch["index"]] ^ bool(self.epoch % 2)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        with self.ctx.autocast():
            logits = self.ctx.model(x)
            loss = F.cross_entropy(logits, batch["y"], label_smoothing=self.ctx.profile.label_smoothing)
        self.update(loss)
        self.steps_done += 1
        if self.average and (self.steps_done % LOOKAHEAD_EVERY == 0 or self.steps_done >= self.total_steps):
            progress = min(self.steps_done / max(self.total_steps, 1), 1.0)
            self._lookahead(1.0 if self.steps_done >= self.total_steps else LOOKAHEAD_DECAY * progress**3)
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == batch["y"]).float().mean()}

    @torch.no_grad()
    def _lookahead(self, decay: float) -> None:
        """average = decay * average + (1 - decay) * weights; the weights then take the average (1.0: the end)."""
        for avg, value in zip(self.average, self.ctx.raw_model.state_dict().values()):
            if value.is_floating_point():
                avg.lerp_(value, 1.0 - decay)
                value.copy_(avg)
            else:
                avg.copy_(value)

    @torch.no_grad()
    def predict(self, loader: BatchLoader, tta: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float]:
        """Predicted classes of a split (logits averaged over ``tta``'s views), the image's own view's predictions
        from the same pass, the true classes and the mean loss."""
        preds, singles, targets, loss_sum = [], [], [], torch.zeros((), device=self.ctx.device)
        with eval_mode(self.ctx.raw_model) as model:
            for batch in loader.batches(0):
                with self.ctx.autocast():
                    plain = model(batch["x"]).float()
                    logits = tta_logits(model, batch["x"], tta, plain) if tta else plain
                loss_sum += F.cross_entropy(logits, batch["y"], reduction="sum")
                preds.append(logits.argmax(1))
                singles.append(plain.argmax(1))
                targets.append(batch["y"])
        return torch.cat(preds).cpu(), torch.cat(singles).cpu(), torch.cat(targets).cpu(), float(loss_sum) / loader.n

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        """Accuracy and loss on the test split; the final evaluation with test-time augmentation where asked for
        (``test_accuracy_single_view`` beside it)."""
        assert self.eval_loader is not None
        tta = int(self.tricks["tta"]) if final else 0
        pred, single, target, loss = self.predict(self.eval_loader, tta)
        self.last_eval = (pred, target)
        out = {"test_loss": loss, "test_accuracy": float((pred == target).float().mean())}
        if tta:
            out["test_accuracy_single_view"] = float((single == target).float().mean())
        return out

    # -- resume: the steps taken (a fresh run's initialisation is not repeated) and Lookahead's average
    def state_dict(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done, "average": [a.cpu() for a in self.average]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.average = [t.to(self.ctx.device) for t in state.get("average") or []]

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
