"""The step interface: the small task-specific pieces the one training engine calls.

A step builds its optimisers and loaders, runs one training batch (``train_step``), evaluates
(``evaluate``) and draws its pictures (``artifacts``). The engine does everything else: devices,
precision, epochs, progress, checkpoints, metrics, resume, DDP.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import torch
from torch import nn

from ..data import BatchLoader, DataBundle
from ..precision import autocast
from ..recipes import OPTIMIZERS, SCHEDULERS, Profile, Recipe

if TYPE_CHECKING:
    from torch.optim import Optimizer


@dataclass
class Context:
    """What a step may use: the model (possibly DDP-wrapped or compiled), data, device, settings."""

    recipe: Recipe
    profile: Profile
    data: DataBundle
    model: nn.Module
    raw_model: Any  # the zoo model itself (an nn.Module): steps reach its task's parts (decoder, generator, ...)
    device: torch.device
    seed: int
    preprocessing: dict[str, Any] | None
    rank: int = 0
    world: int = 1
    extra_state: dict[str, Any] = field(default_factory=dict)
    precision: str = "fp32"  # the resolved profile precision: fp32 | bf16

    def autocast(self) -> contextlib.AbstractContextManager:
        return autocast(self.precision, self.device)


M = TypeVar("M", bound=nn.Module)


@contextlib.contextmanager
def eval_mode(model: M) -> Iterator[M]:
    """Evaluation mode inside the block, the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def build_optimizer(params: Any, p: Profile) -> Optimizer:
    params = [q for q in params if q.requires_grad]
    if p.optimizer == "adam":
        return torch.optim.Adam(params, lr=p.lr, betas=p.betas, weight_decay=p.weight_decay)
    if p.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=p.lr, betas=p.betas, weight_decay=p.weight_decay)
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay)
    if p.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=p.lr, alpha=p.alpha, momentum=p.momentum, weight_decay=p.weight_decay)
    raise ValueError(f"unknown optimizer {p.optimizer!r} ({', '.join(OPTIMIZERS)})")


def build_scheduler(optimizer: Optimizer, p: Profile, total_steps: int) -> Any:
    if p.scheduler is None:
        return None
    if p.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer,
            max_lr=p.lr,
            total_steps=max(total_steps, 1),
            pct_start=0.25,
            div_factor=25,
            final_div_factor=1e3,
        )
    if p.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    if p.scheduler == "triangle":  # linear from lr_start up to 1 at lr_peak_at of the run, then down to lr_end
        start, peak, end = (
            float(p.extra.get(k, d)) for k, d in (("lr_start", 0.2), ("lr_peak_at", 0.23), ("lr_end", 0.07))
        )
        up = max(int(total_steps * peak), 1)

        def factor(step: int) -> float:
            if step < up:
                return start + (1 - start) * step / up
            return 1 + (end - 1) * min((step - up) / max(total_steps - up, 1), 1.0)

        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    raise ValueError(f"unknown scheduler {p.scheduler!r} ({', '.join(SCHEDULERS)})")


class Step:
    """Base step: one optimiser over the model, shuffled batches of the train split."""

    #: (metric, "max"|"min") deciding the ``best`` checkpoint; None keeps the last as best.
    monitor: tuple[str, str] | None = ("test_loss", "min")
    #: The metric a results table reports for this task, "max" or "min", and the best value it can take.
    headline: tuple[str, str, float] = ("test_loss", "min", 0.0)
    supports_ddp = True
    #: Whether a checkpoint written inside an epoch can resume exactly there.
    resumable_mid_epoch = True

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.stop = False  # a step may end training early (e.g. a loss threshold)
        self.train_loader = self.make_loader("train", ctx.profile.batch_size, shuffle=ctx.profile.shuffle, train=True)
        self.eval_loader = (
            self.make_loader("test", ctx.profile.eval_batch_size, shuffle=False, train=False) if ctx.data.test else None
        )
        self.optimizers = self.configure_optimizers()
        total = self.steps_per_epoch() * ctx.profile.epochs
        self.schedulers = {k: build_scheduler(o, ctx.profile, total) for k, o in self.optimizers.items()}

    # -- data
    def transform(self, train: bool) -> Any:
        return None

    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> BatchLoader:
        tensors = self.ctx.data.train if split == "train" else self.ctx.data.test
        assert tensors is not None
        return BatchLoader(
            tensors,
            batch_size,
            shuffle=shuffle,
            device=self.ctx.device,
            transform=self.transform(train),
            seed=self.ctx.seed,
            rank=self.ctx.rank if train else 0,
            world=self.ctx.world if train else 1,
        )

    def steps_per_epoch(self) -> int:
        return len(self.train_loader)

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        self.epoch = epoch
        return self.train_loader.batches(epoch, start)

    def batch_size_of(self, batch: Any) -> int:
        return len(next(iter(batch.values())))

    # -- optimisation
    def configure_optimizers(self) -> dict[str, Optimizer]:
        return {"model": build_optimizer(self.ctx.raw_model.parameters(), self.ctx.profile)}

    def update(self, loss: torch.Tensor, name: str = "model", retain_graph: bool = False) -> None:
        """zero_grad → backward → step (and the schedule) for optimiser ``name``."""
        opt = self.optimizers[name]
        opt.zero_grad(set_to_none=True)
        loss.backward(retain_graph=retain_graph)
        opt.step()
        if self.schedulers.get(name) is not None:
            self.schedulers[name].step()

    def minimise(self, loss: torch.Tensor) -> dict[str, torch.Tensor]:
        """One update on ``loss``; its value as the step's metrics."""
        self.update(loss)
        return {"loss": loss.detach()}

    def train_step(self, batch: Any) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        return {}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        """Draw pictures into ``out_dir``; return extra final metrics."""
        return {}

    def begin(self, out_dir: Path) -> None:
        """Write what the run folder should hold before the first step (a photo folder's file lists)."""

    def sample_images(self) -> torch.Tensor | None:
        """A small batch of input images (for TensorBoard), if the task has images."""
        return None

    # -- extra state for resume
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def learned(headline: tuple[str, str, float], initial: dict[str, Any], final: dict[str, Any]) -> tuple[bool, str]:
    """Whether a run clearly learned: a "max" metric covered at least a quarter of the way from the untrained
    model's value to the best possible one; a "min" metric at least halved its untrained value."""
    name, mode, best = headline
    if name not in initial or name not in final:
        return False, f"{name} missing (initial: {sorted(initial)}, final: {sorted(final)})"
    start, end = float(initial[name]), float(final[name])
    if mode == "max":
        bar = start + 0.25 * (best - start)
        return end >= bar, f"{name} {start:.4g} -> {end:.4g} (needs >= {bar:.4g})"
    bar = best + 0.5 * (start - best)
    return end <= bar, f"{name} {start:.4g} -> {end:.4g} (needs <= {bar:.4g})"
