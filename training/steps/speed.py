"""The speed step: CIFAR-10 classification with the training tricks of a time-to-accuracy recipe (after the published
description of airbench94, K. Jordan 2024), each one a named profile field (``extra``) so that its effect can be
measured alone:

- ``whiten``: the stem's 2x2 filters whiten the training images' patches (fitted on ``whiten_samples`` images,
  then fixed); its bias trains for the first ``whiten_bias_epochs`` epochs only;
- ``dirac``: partial identity initialisation of the convolutions;
- ``bias_scale``: batch-norm biases learn at this multiple of the rate (their weight decay divided by it);
- ``lookahead``: every 5 steps the weights move to an exponential average of themselves (its decay rising to
  0.95^5 with the cube of progress), and the run ends on that average;
- ``alternate_flip``: each image is flipped at random in the first epoch and on every other epoch after, the
  opposite way (every image is seen both ways within any two epochs);
- ``tta``: the final evaluation averages 1 (0), 2 (1: and the mirror) or 6 views (2: and two 1-pixel translations of
  both); the single view's accuracy is reported beside it.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.optim import Optimizer

from ..data import BatchLoader, Tensors
from .base import Context, eval_mode
from .classification import ClassificationStep

#: Lookahead's period in steps, and its final decay.
LOOKAHEAD_EVERY = 5
LOOKAHEAD_DECAY = 0.95**5


def tta_logits(model: nn.Module, x: torch.Tensor, level: int) -> torch.Tensor:
    """Logits averaged over the views of ``level`` (0: the image; 1: and its mirror; 2: and both 1-pixel diagonal
    translations of both)."""

    def mirrored(images: torch.Tensor) -> torch.Tensor:
        out = model(images).float()
        return out if level == 0 else 0.5 * (out + model(images.flip(-1)).float())

    logits = mirrored(x)
    if level < 2:
        return logits
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")
    h, w = x.shape[-2:]
    shifted = [padded[..., :h, :w].contiguous(), padded[..., 2 : h + 2, 2 : w + 2].contiguous()]
    if x.is_contiguous(memory_format=torch.channels_last):
        shifted = [s.contiguous(memory_format=torch.channels_last) for s in shifted]
    return 0.5 * logits + 0.5 * torch.stack([mirrored(s) for s in shifted]).mean(0)


class SpeedStep(ClassificationStep):
    """Classification with whitening, identity init, scaled bias rates, Lookahead, alternating flips and TTA."""

    supports_ddp = False

    def __init__(self, ctx: Context) -> None:
        extra = ctx.profile.extra
        self.settings: dict[str, Any] = {
            "whiten": bool(extra.get("whiten", True)),
            "whiten_samples": int(extra.get("whiten_samples", 5000)),
            "whiten_bias_epochs": int(extra.get("whiten_bias_epochs", 3)),
            "dirac": bool(extra.get("dirac", True)),
            "bias_scale": float(extra.get("bias_scale", 64.0)),
            "lookahead": bool(extra.get("lookahead", True)),
            "alternate_flip": bool(extra.get("alternate_flip", True)),
            "tta": int(extra.get("tta", 2)),
        }
        self.epoch = 0
        self.steps_done = 0
        self.average: list[torch.Tensor] = []
        super().__init__(ctx)
        self.total_steps = self.steps_per_epoch() * ctx.profile.epochs
        n = len(ctx.data.train["y"])
        g = torch.Generator().manual_seed(ctx.seed + 17)
        self.first_flip = (torch.rand(n, generator=g) < 0.5).to(ctx.device)

    def begin(self, out_dir: Any) -> None:
        """Before a fresh run's first step (never when evaluating trained weights, nor on resume): the identity
        initialisation, the whitening filters from the data, and Lookahead's first average."""
        if self.steps_done:
            return
        if self.settings["dirac"]:
            _identity_init(self.ctx.raw_model)
        if self.settings["whiten"]:
            self._fit_whitening()
        if self.settings["lookahead"]:
            self.average = [t.detach().clone() for t in self.ctx.raw_model.state_dict().values()]

    # -- data: indices ride along with each batch (the alternating flip needs to know which image it is)
    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> BatchLoader:
        loader = super().make_loader(split, batch_size, shuffle=shuffle, train=train)
        if split == "train":
            loader.tensors["index"] = torch.arange(loader.n, device=loader.device)
        return loader

    def _fit_whitening(self) -> None:
        from zoo.models.speednet import whitening_filters

        model = self.ctx.raw_model
        stem = getattr(model, "whiten", None)
        if not isinstance(stem, nn.Conv2d):
            raise ValueError(
                f"profile field whiten=true needs a model with a `whiten` stem; {type(model).__name__} has none"
            )
        g = torch.Generator().manual_seed(self.ctx.seed)
        x = self.ctx.data.train["x"]
        pick = torch.randperm(len(x), generator=g)[: self.settings["whiten_samples"]]
        transform = self.transform(train=False)
        images = transform({"x": x[pick]})["x"].float().contiguous() if transform is not None else x[pick].float()
        with torch.no_grad():
            stem.weight.copy_(whitening_filters(images.cpu(), stem.kernel_size[0]).to(stem.weight))
            if stem.bias is not None:
                stem.bias.zero_()
        stem.weight.requires_grad_(False)

    # -- optimisation
    def configure_optimizers(self) -> dict[str, Optimizer]:
        p = self.ctx.profile
        scale = float(p.extra.get("bias_scale", 64.0))
        norm_biases: list[nn.Parameter] = []
        others: list[nn.Parameter] = []
        for module in self.ctx.raw_model.modules():
            for name, param in module.named_parameters(recurse=False):
                if not param.requires_grad and not (isinstance(module, nn.Conv2d) and name == "bias"):
                    continue
                (
                    norm_biases if isinstance(module, nn.modules.batchnorm._BatchNorm) and name == "bias" else others
                ).append(param)
        groups = [
            {"params": norm_biases, "lr": p.lr * scale, "weight_decay": p.weight_decay / scale},
            {"params": others, "lr": p.lr, "weight_decay": p.weight_decay},
        ]
        return {"model": torch.optim.SGD(groups, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov)}

    def train_batches(self, epoch: int, start: int) -> Any:
        stem = getattr(self.ctx.raw_model, "whiten", None)
        if isinstance(stem, nn.Conv2d) and stem.bias is not None:
            stem.bias.requires_grad_(epoch < self.settings["whiten_bias_epochs"])
        return super().train_batches(epoch, start)

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        x = batch["x"]
        if self.settings["alternate_flip"]:
            flip = self.first_flip[batch["index"]] ^ bool(self.epoch % 2)
            x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        metrics = super().train_step({**batch, "x": x})
        self.steps_done += 1
        if self.average and (self.steps_done % LOOKAHEAD_EVERY == 0 or self.steps_done >= self.total_steps):
            progress = min(self.steps_done / max(self.total_steps, 1), 1.0)
            self._lookahead(1.0 if self.steps_done >= self.total_steps else LOOKAHEAD_DECAY * progress**3)
        return metrics

    @torch.no_grad()
    def _lookahead(self, decay: float) -> None:
        """average = decay * average + (1 - decay) * weights; the weights then take the average (1.0: the end)."""
        for avg, value in zip(self.average, self.ctx.raw_model.state_dict().values()):
            if value.is_floating_point():
                avg.lerp_(value, 1.0 - decay)
                value.copy_(avg)
            else:
                avg.copy_(value)

    # -- evaluation
    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        level = int(self.settings["tta"]) if final else 0
        views: dict[int, tuple[list[torch.Tensor], float]] = {}
        targets: list[torch.Tensor] = []
        with eval_mode(self.ctx.raw_model) as model:
            for batch in self.eval_loader.batches(0):
                targets.append(batch["y"])
                for lv in sorted({0, level}):
                    with self.ctx.autocast():
                        logits = tta_logits(model, batch["x"], lv).float()
                    preds, loss = views.get(lv, ([], 0.0))
                    preds.append(logits.argmax(1))
                    views[lv] = (preds, loss + float(F.cross_entropy(logits, batch["y"], reduction="sum")))
        target = torch.cat(targets).cpu()
        pred, loss = views[level]
        self.last_eval = (torch.cat(pred).cpu(), target)
        out = {"test_loss": loss / len(target), "test_accuracy": float((self.last_eval[0] == target).float().mean())}
        if level:
            single = torch.cat(views[0][0]).cpu()
            out["test_accuracy_single_view"] = float((single == target).float().mean())
        return out

    # -- resume
    def state_dict(self) -> dict[str, Any]:
        return {"steps_done": self.steps_done, "average": [a.cpu() for a in self.average]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps_done = int(state.get("steps_done", 0))
        self.average = [t.to(self.ctx.device) for t in state.get("average") or []]


def _identity_init(model: nn.Module) -> None:
    """Partial identity initialisation: each 3x3 convolution's first filters (as many as it has input channels)
    start as the identity, so the deep path begins close to a shallow one."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.Conv2d) and module.kernel_size == (3, 3):
                w = module.weight
                torch.nn.init.dirac_(w[: min(w.shape[0], w.shape[1])])
