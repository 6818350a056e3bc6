"""Generative steps: autoencoders, the VAE, image GANs and the curve-painting GAN."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import zoo

from .. import plots
from ..data import BatchLoader, Tensors, epoch_generator
from .base import Context, Step, build_optimizer, eval_mode
from .classification import image_transform

if TYPE_CHECKING:
    from torch.optim import Optimizer


class ReconstructionStep(Step):
    """Autoencoders: reconstruct the (preprocessed) input image."""

    def transform(self, train: bool) -> Any:
        return image_transform(self.ctx, train)

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
        plots.image_grid(
            torch.cat([self._denorm(x), self._denorm(recon)]),
            out_dir / "reconstructions.png",
            nrow=16,
            title="input (top) / reconstruction (bottom)",
        )
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

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        metrics = super().evaluate(final)
        if final:  # what the decoder makes of z ~ N(0, I), judged by the shipped digit classifier
            model = self.ctx.raw_model
            g = torch.Generator().manual_seed(0)
            z = torch.randn(1000, model.decoder.fc3.in_features, generator=g).to(self.ctx.device)
            with eval_mode(model):
                metrics.update(judge_digits(self._denorm(model.decoder(z)), self.ctx.data.name))
        return metrics


class GANStep(Step):
    """GAN / LSGAN / DCGAN on images: a discriminator update, then a generator update (same noise)."""

    headline = ("test_pixel_fd", "min", 0.0)

    monitor = None
    supports_ddp = False

    def transform(self, train: bool) -> Any:
        return image_transform(self.ctx, train)

    def configure_optimizers(self) -> dict[str, Optimizer]:
        m = self.ctx.raw_model
        return {
            "discriminator": build_optimizer(m.discriminator.parameters(), self.ctx.profile),
            "generator": build_optimizer(m.generator.parameters(), self.ctx.profile),
        }

    def noise(self, n: int, g: torch.Generator | None = None) -> torch.Tensor:
        """Noise drawn from ``g`` (on the CPU: evaluation draws the same on every device), else drawn on the
        training device from its global RNG (no per-step copy from the host)."""
        dim = self.ctx.raw_model.noise_dim
        device = g.device if g is not None else self.ctx.device
        if (self.ctx.preprocessing or {}).get("noise", "uniform") == "uniform":
            z = (torch.rand(n, dim, generator=g, device=device) - 0.5) / 0.5
        else:
            z = torch.randn(n, dim, generator=g, device=device)
        return z.to(self.ctx.device)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
        if self.ctx.profile.extra.get("loss") == "ls":
            return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake**2).mean()
        return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
            fake, torch.zeros_like(fake)
        )

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
        return {
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": torch.sigmoid(logits_real).mean().detach(),
            "d_fake": torch.sigmoid(logits_fake).mean().detach(),
        }

    @torch.no_grad()
    def evaluate(self, final: bool = False) -> dict[str, float]:
        assert self.eval_loader is not None
        real = next(self.eval_loader.batches(0))["x"]
        with eval_mode(self.ctx.raw_model) as m:
            fake = m.generator(self.noise(len(real), torch.Generator().manual_seed(0)))
            metrics = {
                "test_d_real": float(torch.sigmoid(m.discriminator(real)).mean()),
                "test_d_fake": float(torch.sigmoid(m.discriminator(fake)).mean()),
                "test_pixel_fd": pixel_frechet_distance(real, fake),
            }
        if final:
            metrics.update(judge_digits((fake + 1) / 2, self.ctx.data.name))
        return metrics

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        with torch.no_grad(), eval_mode(self.ctx.raw_model) as m:
            images = m.generator(self.noise(64, torch.Generator().manual_seed(0)))
        plots.image_grid((images.cpu().float() + 1) / 2, out_dir / "samples.png", nrow=8, title="generated samples")
        return {}

    def sample_images(self) -> torch.Tensor | None:
        return self.ctx.data.train["x"][:32]


class CurveGANStep(Step):
    """S1's curve-painting GAN: real curves a·x² + (a-1); G updated first, then D, as in the seed."""

    headline = ("test_curve_rmse", "min", 0.0)
    monitor = None
    supports_ddp = False

    def __init__(self, ctx: Context) -> None:
        self.points = torch.linspace(-1, 1, ctx.raw_model.generator[-1].out_features, device=ctx.device)
        super().__init__(ctx)

    def make_loader(self, split: str, batch_size: int, *, shuffle: bool, train: bool) -> BatchLoader:
        return None  # type: ignore[return-value]

    def steps_per_epoch(self) -> int:
        return int(self.ctx.profile.extra.get("steps_per_epoch", 1000))

    def configure_optimizers(self) -> dict[str, Optimizer]:
        m = self.ctx.raw_model
        return {
            "generator": build_optimizer(m.generator.parameters(), self.ctx.profile),
            "discriminator": build_optimizer(m.discriminator.parameters(), self.ctx.profile),
        }

    def paintings(self, n: int, g: torch.Generator) -> torch.Tensor:
        a = 1 + torch.rand(n, 1, generator=g, device=g.device).to(self.ctx.device)
        return a * self.points.pow(2) + (a - 1)

    def train_batches(self, epoch: int, start: int) -> Iterator[Any]:
        for b in range(start, self.steps_per_epoch()):
            g = epoch_generator(self.ctx.seed, epoch, stream=1 + b, device=self.ctx.device)
            bs = self.ctx.profile.batch_size
            yield {
                "real": self.paintings(bs, g),
                "ideas": torch.randn(bs, self.ctx.raw_model.noise_dim, generator=g, device=g.device),
            }

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
        return {
            "test_d_real": float(m.discriminator(real).mean()),
            "test_d_fake": float(m.discriminator(fake).mean()),
            "test_curve_rmse": self.curve_rmse(fake),
        }

    def curve_rmse(self, fake: torch.Tensor) -> float:
        """How far generated paintings are from the family a·x² + (a-1): the RMS residual of each painting's
        least-squares fit of a (0 for a perfect painter; an untrained generator scores about 0.3)."""
        basis = (self.points.pow(2) + 1).flatten().to(fake.device)
        target = fake + 1
        a = target @ basis / basis.dot(basis)
        return float((target - a[:, None] * basis).pow(2).mean().sqrt())

    def artifacts(self, out_dir: Path, history: list[dict[str, Any]]) -> dict[str, Any]:
        m = self.ctx.raw_model
        with torch.no_grad():
            fake = m.generator(
                torch.randn(5, m.noise_dim, generator=torch.Generator().manual_seed(0)).to(self.ctx.device)
            )
        plots.curves(self.points.cpu(), fake.cpu(), out_dir / "samples.png")
        return {}


def pixel_frechet_distance(real: torch.Tensor, fake: torch.Tensor, size: int = 14) -> float:
    """Fréchet distance between Gaussians fitted to real and generated images, in pixel space pooled to
    size×size: FID's formula without the Inception network, enough to tell a generator that learned the
    data's pixel statistics (small) from an untrained or collapsed one (large)."""

    def stats(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        v = F.adaptive_avg_pool2d(x.float(), size).flatten(1).cpu().double().numpy()
        return v.mean(0), np.cov(v, rowvar=False)

    (mu1, s1), (mu2, s2) = stats(real), stats(fake)
    # tr sqrt(S1 S2) = sum of the square roots of S1 S2's eigenvalues (real and >= 0 for two covariances)
    root_trace = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * root_trace)


#: The classifier that judges generated digits: the zoo's own trained MNIST CNN (test accuracy on its card).
JUDGE_WEIGHTS = "mnist-cnn.mnist"
_JUDGE: dict[str, nn.Module] = {}


def judge_digits(images: torch.Tensor, dataset: str = "mnist") -> dict[str, float]:
    """What a trained digit classifier sees in generated 1x28x28 images in [0, 1]:

    - ``test_confident_share``: the share it classifies with probability above 0.9 (a digit it recognises);
    - ``test_class_entropy_bits``: the entropy of its predicted-class histogram (log2(10) = 3.32 when every
      digit is made equally often; near 0 for a generator that collapsed onto one digit).

    Empty for other data, or when the classifier's weights are not at hand."""
    if dataset not in ("mnist", "digits") or tuple(images.shape[1:]) != (1, 28, 28):
        return {}
    from zoo.weights import WeightsError

    if JUDGE_WEIGHTS not in _JUDGE:
        try:
            _JUDGE[JUDGE_WEIGHTS] = zoo.get_model("mnist-cnn", weights=JUDGE_WEIGHTS)
        except (WeightsError, ValueError):
            return {}
    judge = _JUDGE[JUDGE_WEIGHTS]
    with torch.no_grad():
        probs = torch.softmax(judge(images.detach().float().cpu().clamp(0, 1)), dim=1)  # trained on [0, 1] pixels
    top, classes = probs.max(dim=1)
    hist = torch.bincount(classes, minlength=10).double() / len(classes)
    nonzero = hist[hist > 0]
    return {
        "test_confident_share": float((top > 0.9).double().mean()),
        "test_class_entropy_bits": float(-(nonzero * nonzero.log2()).sum()),
    }
