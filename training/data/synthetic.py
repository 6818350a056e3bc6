"""Series and synthetic data: the airline passengers CSV and the seeds' generated toy sets."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import torch

from .base import DataBundle, DataNotFoundError

# --------------------------------------------------------------------------- series and synthetic data


def load_airline(root: Path, download: bool = False) -> DataBundle:
    """Monthly airline passengers scaled by (max - min) as in the seed; look_back 2; first 70 % trains."""
    path = root / "airline-passengers" / "airline-passengers.csv"
    if not path.is_file():
        path = root / "airline-passengers.csv"
    if not path.is_file():
        raise DataNotFoundError(
            f"airline passengers CSV not found: looked for {root}/airline-passengers/airline-passengers.csv.\n"
            f'It is the classic Box & Jenkins series (144 monthly values, header "Month","Passengers"); '
            f"point `--data-dir` at its folder."
        )
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r]
    values = torch.tensor([float(r[1]) for r in rows[1:] if r[1].strip()], dtype=torch.float32)
    scale = float(values.max() - values.min())
    series = values / scale
    look_back = 2
    x = series.unfold(0, look_back, 1)[:-1]  # (N - look_back, look_back)
    y = series[look_back:]
    cut = int(len(x) * 0.7)
    return DataBundle(
        "airline",
        {"x": x[:cut].unsqueeze(0), "y": y[:cut].reshape(1, -1, 1)},
        {"x": x.unsqueeze(0), "y": y.reshape(1, -1, 1), "train_steps": torch.tensor(cut)},
        f"airline passengers from {path} ({len(values)} months, {cut} training windows)",
        meta={"scale": scale, "look_back": look_back},
    )


def load_sin_cos(root: Path | None = None, download: bool = False) -> DataBundle:
    """S1's sin → cos task: 100 consecutive windows of 10 points over [kπ, (k+1)π)."""
    starts = torch.arange(100, dtype=torch.float64) * math.pi
    steps = starts[:, None] + torch.arange(10, dtype=torch.float64)[None] * (math.pi / 10)
    x = torch.sin(steps).float().unsqueeze(-1)
    y = torch.cos(steps).float().unsqueeze(-1)
    return DataBundle("sin-cos", {"x": x, "y": y}, {"x": x, "y": y}, "sin → cos windows (100 x 10 steps)")


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def load_quadratic(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    x = torch.linspace(-1, 1, 100).unsqueeze(1)
    y = x.pow(2) + 0.1 * torch.randn(x.size(), generator=g)
    return DataBundle("quadratic", {"x": x, "y": y}, {"x": x, "y": y}, "y = x² + 0.1·N(0, 1), 100 points")


def load_quadratic_1000(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    x = torch.linspace(-1, 1, 1000).unsqueeze(1)
    y = x.pow(2) + 0.1 * torch.randn(x.size(), generator=g)
    return DataBundle("quadratic-1000", {"x": x, "y": y}, {"x": x, "y": y}, "y = x² + 0.1·N(0, 1), 1000 points")


def load_gaussians(root: Path | None = None, download: bool = False) -> DataBundle:
    g = _seeded(1)
    ones = torch.ones(100, 2)
    x = torch.cat([torch.normal(2 * ones, 1, generator=g), torch.normal(-2 * ones, 1, generator=g)])
    y = torch.cat([torch.zeros(100), torch.ones(100)]).long()
    return DataBundle(
        "gaussians",
        {"x": x, "y": y},
        {"x": x, "y": y},
        "two Gaussian clusters at (2,2) and (-2,-2)",
        labels=["cluster-0", "cluster-1"],
    )


LINEAR_POINTS_X = [3.3, 4.4, 5.5, 6.71, 6.93, 4.168, 9.779, 6.182, 7.59, 2.167, 7.042, 10.791, 5.313, 7.997, 3.1]
LINEAR_POINTS_Y = [1.7, 2.76, 2.09, 3.19, 1.694, 1.573, 3.366, 2.596, 2.53, 1.221, 2.827, 3.465, 1.65, 2.904, 1.3]


def load_linear_points(root: Path | None = None, download: bool = False) -> DataBundle:
    x = torch.tensor(LINEAR_POINTS_X).unsqueeze(1)
    y = torch.tensor(LINEAR_POINTS_Y).unsqueeze(1)
    return DataBundle("linear-points", {"x": x, "y": y}, {"x": x, "y": y}, "S3's 15 (x, y) points")


def poly_features(x: torch.Tensor) -> torch.Tensor:
    """[x, x², x³] (the seed's ``make_features``)."""
    x = x.reshape(-1, 1)
    return torch.cat([x**i for i in range(1, 4)], 1)


def load_poly(root: Path | None = None, download: bool = False) -> DataBundle:
    """y = 0.9 + 0.5x + 3x² + 2.4x³ at x ~ N(0, 1); a fresh 32-point batch per step, as in the seed."""
    g = _seeded(1)
    x = poly_features(torch.randn(10_000, generator=g))
    w, b = torch.tensor([[0.5], [3.0], [2.4]]), 0.9
    xt = poly_features(torch.linspace(-2, 2, 200))
    return DataBundle(
        "poly", {"x": x, "y": x @ w + b}, {"x": xt, "y": xt @ w + b}, "y = 0.9 + 0.5x + 3x² + 2.4x³, x ~ N(0, 1)"
    )


def load_logistic(root: Path | None = None, download: bool = False) -> DataBundle:
    """A stand-in for the seed's unreachable data.txt: 100 two-feature "exam scores" in [30, 100],
    labelled 1 when a noisy linear score passes a threshold (the same shape of problem)."""
    g = _seeded(1)
    x = 30 + 70 * torch.rand(100, 2, generator=g)
    score = x[:, 0] + x[:, 1] + 10 * torch.randn(100, generator=g)
    y = (score > 130).float().unsqueeze(1)
    return DataBundle(
        "logistic", {"x": x, "y": y}, {"x": x, "y": y}, "100 synthetic two-score points", labels=["class-0", "class-1"]
    )


def load_bn_quadratic(root: Path | None = None, download: bool = False) -> DataBundle:
    """The batch-norm demo's data: y = x² − 5 + N(0, 2), x ∈ [-7, 10], 2000 train / 200 test."""
    g = _seeded(1)
    x = torch.linspace(-7, 10, 2000).unsqueeze(1)
    y = x.pow(2) - 5 + 2 * torch.randn(x.size(), generator=g)
    xt = torch.linspace(-7, 10, 200).unsqueeze(1)
    yt = xt.pow(2) - 5 + 2 * torch.randn(xt.size(), generator=g)
    return DataBundle("bn-quadratic", {"x": x, "y": y}, {"x": xt, "y": yt}, "y = x² − 5 + N(0, 2)")


def load_none(root: Path | None = None, download: bool = False) -> DataBundle:
    """For steps that make their own data (GAN curves, CartPole)."""
    empty = {"x": torch.zeros(0)}
    return DataBundle("none", empty, None, "generated on the fly")
