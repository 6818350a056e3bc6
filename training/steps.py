"""Task steps: the small task-specific pieces the one training engine calls.

A step builds its optimisers and loaders, runs one training batch (``train_step``), evaluates
(``evaluate``) and draws its pictures (``artifacts``). The engine does everything else: devices,
precision, epochs, progress, checkpoints, metrics, resume, DDP.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from . import plots
from .data import BatchLoader, DataBundle, Tensors, epoch_generator
from .recipes import Profile, Recipe
from .transforms import ImageTransform, TrimPadding

if TYPE_CHECKING:
    from torch.optim import Optimizer


@dataclass
class Context:
    """What a step may use: the model (possibly DDP-wrapped or compiled), data, device, settings."""

    recipe: Recipe
    profile: Profile
    data: DataBundle
    model: nn.Module
    raw_model: nn.Module
    device: torch.device
    seed: int
    preprocessing: dict[str, Any] | None
    rank: int = 0
    world: int = 1
    extra_state: dict[str, Any] = field(default_factory=dict)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.profile.precision == "bf16" and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode inside the block, the previous mode after it."""
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def build_optimizer(params: Any, p: Profile) -> "Optimizer":
    params = [q for q in params if q.requires_grad]
    if p.optimizer == "adam":
        return torch.optim.Adam(params, lr=p.lr, betas=p.betas, weight_decay=p.weight_decay)
    if p.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=p.lr, betas=p.betas, weight_decay=p.weight_decay)
    if p.optimizer == "sgd":
        return torch.optim.SGD(params, lr=p.lr, momentum=p.momentum, nesterov=p.nesterov, weight_decay=p.weight_decay)
    if p.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=p.lr, alpha=p.alpha, momentum=p.momentum, weight_decay=p.weight_decay)
    raise ValueError(f"unknown optimizer {p.optimizer!r} (adam, adamw, sgd, rmsprop)")


def build_scheduler(optimizer: "Optimizer", p: Profile, total_steps: int) -> Any:
    if p.scheduler is None:
        return None
    if p.scheduler == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=p.lr, total_steps=max(total_steps, 1), pct_start=0.25,
            div_factor=25, final_div_factor=1e3,
        )
    if p.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(total_steps, 1))
    raise ValueError(f"unknown scheduler {p.scheduler!r} (onecycle, cosine)")


class Step:
    """Base step: one optimiser over the model, shuffled batches of the train split."""

    #: (metric, "max"|"min") deciding the ``best`` checkpoint; None keeps the last as best.
    monitor: tuple[str, str] | None = ("test_loss", "min")
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
            tensors, batch_size, shuffle=shuffle, device=self.ctx.device, transform=self.transform(train),
            seed=self.ctx.seed, rank=self.ctx.rank if train else 0, world=self.ctx.world if train else 1,
        )

    def steps_per_epoch(self) -> int:
        return len(self.train_loader)

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        self.epoch = epoch
        return self.train_loader.batches(epoch, start)

    def batch_size_of(self, batch: Any) -> int:
        return len(next(iter(batch.values())))

    # -- optimisation
    def configure_optimizers(self) -> dict[str, "Optimizer"]:
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

    def sample_images(self) -> torch.Tensor | None:
        """A small batch of input images (for TensorBoard), if the task has images."""
        return None

    # -- extra state for resume
    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass


def _image_transform(ctx: Context, train: bool) -> ImageTransform | None:
    pre = ctx.preprocessing
    if not pre or pre.get("kind") != "image" or ctx.data.train["x"].dtype != torch.uint8:
        return None
    size = pre["height"] if pre["height"] != ctx.data.train["x"].shape[-1] else None
    t = ImageTransform(pre["mean"], pre["std"], size=size, augment=ctx.profile.augment,
                       channels_last=ctx.profile.channels_last)
    return t if train else t.eval()


class ClassificationStep(Step):
    """Cross-entropy classification (images, n-gram contexts, feature vectors)."""

    monitor = ("test_accuracy", "max")

    def transform(self, train: bool) -> Any:
        return _image_transform(self.ctx, train)

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
        matrix = torch.zeros(n, n, dtype=torch.long)
        matrix.index_put_((target, pred), torch.ones_like(target), accumulate=True)
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
        return {"test_loss": float(F.binary_cross_entropy(prob, y)),
                "test_accuracy": float(((prob >= 0.5).float() == y).float().mean())}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        lin = self.ctx.raw_model[0]
        plots.decision_boundary(self.ctx.data.test["x"], self.ctx.data.test["y"].flatten(),  # type: ignore[index]
                                lin.weight.detach().cpu().flatten(), float(lin.bias.detach()), out_dir / "fit.png")
        return {}


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


class ReconstructionStep(Step):
    """Autoencoders: reconstruct the (preprocessed) input image."""

    def transform(self, train: bool) -> Any:
        return _image_transform(self.ctx, train)

    def loss(self, recon: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if self.ctx.profile.extra.get("loss") == "sum-mse":
            return F.mse_loss(recon, x, reduction="sum") / x.shape[0]
        return F.mse_loss(recon, x)

    def forward_loss(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(loss, code) for a batch of (preprocessed) images."""
        code, recon = model(x)
        return self.loss(recon.float(), x), code

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        with self.ctx.autocast():
            loss, _ = self.forward_loss(self.ctx.model, batch["x"])
        return self.minimise(loss)

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        total, codes, ys = 0.0, [], []
        with eval_mode(self.ctx.raw_model) as model:
            for batch in self.eval_loader.batches(0):
                loss, code = self.forward_loss(model, batch["x"])
                total += float(loss) * len(batch["x"])
                if code is not None:
                    codes.append(code.flatten(1).cpu())
                    ys.append(batch["y"].cpu())
        if codes:
            self.codes = (torch.cat(codes), torch.cat(ys))
        return {"test_loss": total / self.eval_loader.n}

    def _denorm(self, x: torch.Tensor) -> torch.Tensor:
        pre = self.ctx.preprocessing or {}
        mean = torch.tensor(pre.get("mean", [0.0])).reshape(1, -1, 1, 1)
        std = torch.tensor(pre.get("std", [1.0])).reshape(1, -1, 1, 1)
        return (x.cpu().float() * std + mean).clamp(0, 1)

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        assert self.eval_loader is not None
        x = next(self.eval_loader.batches(0))["x"][:16]
        with torch.no_grad(), eval_mode(self.ctx.raw_model) as model:
            recon = self.reconstruct(model, x)
        plots.image_grid(torch.cat([self._denorm(x), self._denorm(recon)]), out_dir / "reconstructions.png",
                         nrow=16, title="input (top) / reconstruction (bottom)")
        if hasattr(self, "codes") and self.codes[0].shape[1] == 3:
            plots.codes_3d(self.codes[0][:2000], self.codes[1][:2000], out_dir / "codes_3d.png")
        return {}

    def reconstruct(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)[1]

    def sample_images(self) -> torch.Tensor | None:
        return self.ctx.data.train["x"][:32]


class VAEStep(ReconstructionStep):
    """VAE: sum-MSE + KL divergence, per sample; samples from the decoder."""

    def loss_terms(self, recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        mse = F.mse_loss(recon, x, reduction="sum")
        kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return (mse + kld) / x.shape[0]

    def forward_loss(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        recon, mu, logvar = model(x)
        return self.loss_terms(recon.float(), x, mu.float(), logvar.float()), None

    def reconstruct(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return model(x)[0]

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        super().artifacts(out_dir, history)
        model = self.ctx.raw_model
        g = torch.Generator().manual_seed(0)
        z = torch.randn(64, model.decoder.fc3.in_features, generator=g).to(self.ctx.device)
        with torch.no_grad():
            images = model.decoder(z)
        plots.image_grid(self._denorm(images), out_dir / "samples.png", nrow=8, title="samples z ~ N(0, I)")
        return {}


class GANStep(Step):
    """GAN / LSGAN / DCGAN on images: a discriminator update, then a generator update (same noise)."""

    monitor = None
    supports_ddp = False

    def transform(self, train: bool) -> Any:
        return _image_transform(self.ctx, train)

    def configure_optimizers(self) -> dict[str, "Optimizer"]:
        m = self.ctx.raw_model
        return {"discriminator": build_optimizer(m.discriminator.parameters(), self.ctx.profile),
                "generator": build_optimizer(m.generator.parameters(), self.ctx.profile)}

    def noise(self, n: int, g: torch.Generator | None = None) -> torch.Tensor:
        dim = self.ctx.raw_model.noise_dim
        if (self.ctx.preprocessing or {}).get("noise", "uniform") == "uniform":
            z = (torch.rand(n, dim, generator=g) - 0.5) / 0.5
        else:
            z = torch.randn(n, dim, generator=g)
        return z.to(self.ctx.device)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.ctx.profile.extra.get("loss") == "ls":
            return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + \
            F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        if self.ctx.profile.extra.get("loss") == "ls":
            return 0.5 * ((fake - 1) ** 2).mean()
        return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        m = self.ctx.raw_model
        real = batch["x"]
        z = self.noise(len(real))
        with self.ctx.autocast():
            logits_real = m.discriminator(real).float()
            fake = m.generator(z)
            logits_fake = m.discriminator(fake.detach()).float()
            d_loss = self.d_loss(logits_real, logits_fake)
        self.update(d_loss, "discriminator")
        with self.ctx.autocast():
            g_loss = self.g_loss(m.discriminator(m.generator(z)).float())
        self.update(g_loss, "generator")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": torch.sigmoid(logits_real).mean().detach(), "d_fake": torch.sigmoid(logits_fake).mean().detach()}

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        real = next(self.eval_loader.batches(0))["x"]
        with eval_mode(self.ctx.raw_model) as m:
            fake = m.generator(self.noise(len(real), torch.Generator().manual_seed(0)))
            return {"test_d_real": float(torch.sigmoid(m.discriminator(real)).mean()),
                    "test_d_fake": float(torch.sigmoid(m.discriminator(fake)).mean())}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        with torch.no_grad(), eval_mode(self.ctx.raw_model) as m:
            images = m.generator(self.noise(64, torch.Generator().manual_seed(0)))
        plots.image_grid((images.cpu().float() + 1) / 2, out_dir / "samples.png", nrow=8, title="generated samples")
        return {}

    def sample_images(self) -> torch.Tensor | None:
        return self.ctx.data.train["x"][:32]


class CurveGANStep(Step):
    """S1's curve-painting GAN: real curves a·x² + (a-1); G updated first, then D, as in the seed."""

    monitor = None
    supports_ddp = False

    def __init__(self, ctx: Context) -> None:
        self.points = torch.linspace(-1, 1, ctx.raw_model.generator[-1].out_features)
        super().__init__(ctx)

    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> BatchLoader:  # type: ignore[override]
        return None  # type: ignore[return-value]

    def steps_per_epoch(self) -> int:
        return int(self.ctx.profile.extra.get("steps_per_epoch", 1000))

    def configure_optimizers(self) -> dict[str, "Optimizer"]:
        m = self.ctx.raw_model
        return {"generator": build_optimizer(m.generator.parameters(), self.ctx.profile),
                "discriminator": build_optimizer(m.discriminator.parameters(), self.ctx.profile)}

    def paintings(self, n: int, g: torch.Generator) -> torch.Tensor:
        a = 1 + torch.rand(n, 1, generator=g)
        return (a * self.points.pow(2) + (a - 1)).to(self.ctx.device)

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        for b in range(start, self.steps_per_epoch()):
            g = epoch_generator(self.ctx.seed, epoch, stream=1 + b)
            bs = self.ctx.profile.batch_size
            yield {"real": self.paintings(bs, g), "ideas": torch.randn(bs, self.ctx.raw_model.noise_dim, generator=g).to(self.ctx.device)}

    def train_step(self, batch: Tensors) -> dict[str, torch.Tensor]:
        m = self.ctx.raw_model
        fake = m.generator(batch["ideas"])
        g_loss = torch.mean(torch.log(1.0 - m.discriminator(fake)))
        self.update(g_loss, "generator")
        prob_real = m.discriminator(batch["real"])
        prob_fake = m.discriminator(fake.detach())
        d_loss = -torch.mean(torch.log(prob_real) + torch.log(1.0 - prob_fake))
        self.update(d_loss, "discriminator")
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": prob_real.mean().detach()}

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        g = torch.Generator().manual_seed(12345)
        m = self.ctx.raw_model
        real = self.paintings(10_000, g)
        fake = m.generator(torch.randn(10_000, m.noise_dim, generator=g).to(self.ctx.device))
        return {"test_d_real": float(m.discriminator(real).mean()), "test_d_fake": float(m.discriminator(fake).mean())}

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        m = self.ctx.raw_model
        with torch.no_grad():
            fake = m.generator(torch.randn(5, m.noise_dim, generator=torch.Generator().manual_seed(0)).to(self.ctx.device))
        plots.curves(self.points, fake.cpu(), out_dir / "samples.png")
        return {}


class TaggingStep(Step):
    """POS tagging: per-token cross-entropy on padded index tensors."""

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
                loss_sum += float(F.cross_entropy(logits.flatten(0, 1), batch["y"].flatten(), ignore_index=-100,
                                                  reduction="sum"))
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
        return {"test_loss": float(F.mse_loss(pred[:, cut:], test["y"][:, cut:])),
                "full_series_loss": float(F.mse_loss(pred, test["y"]))}

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


STEPS: dict[str, type[Step]] = {
    "classification": ClassificationStep,
    "binary-classification": BinaryClassificationStep,
    "regression": RegressionStep,
    "reconstruction": ReconstructionStep,
    "vae": VAEStep,
    "gan": GANStep,
    "curve-gan": CurveGANStep,
    "tagging": TaggingStep,
    "sequence-regression": SequenceRegressionStep,
    "stateful-regression": StatefulRegressionStep,
}


def get_step(name: str) -> type[Step]:
    if name == "dqn":
        from .dqn import DQNStep

        return DQNStep
    return STEPS[name]

