"""The card: one trained model's data (file, hash, metrics, provenance, preprocessing, labels), parsed once into a
:class:`Weights` that knows how to get, check and load its tensors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .files import FILES_DIR, WeightsError, check_hash, load_file, weights_dir
from .hub import download_to_cache

#: Card fields renamed since the first registries (read from older local registries under their new names).
RENAMED_FIELDS = {"built": "built_at", "shipped": "in_package"}


def upgrade_card(card: Mapping[str, Any]) -> dict[str, Any]:
    """A card as this version names its fields."""
    return {RENAMED_FIELDS.get(k, k): v for k, v in card.items()}


@dataclass(frozen=True)
class Weights:
    """One trained model: its card (``card``: plain JSON data, read-only by convention), typed where the zoo reads
    it, and how to get its tensors. ``has_file``/``shipped`` say where the tensors are; the card's ``built_at``
    and ``in_package`` say when it was built and whether the package carries its file."""

    name: str
    card: Mapping[str, Any]
    model: str = field(init=False)
    file: str | None = field(init=False)
    sha256: str | None = field(init=False)
    metrics: Mapping[str, Any] = field(init=False)
    headline: tuple[str, str] = field(init=False)
    preprocessing: dict[str, Any] | None = field(init=False)
    labels: list[str] | None = field(init=False)
    default: bool = field(init=False)

    def __post_init__(self) -> None:
        card = self.card
        file = card.get("file") or {}
        headline = card.get("headline") or {}
        values = {
            "model": str(card["model"]),
            "file": file.get("name"),
            "sha256": file.get("sha256"),
            "metrics": dict(card.get("metrics") or {}),
            "headline": (str(headline.get("metric", "")), str(headline.get("mode", "max"))),
            "preprocessing": card.get("preprocessing"),
            "labels": card.get("labels"),
            "default": bool(card.get("default")),
        }
        for key, value in values.items():
            object.__setattr__(self, key, value)

    @classmethod
    def from_card(cls, name: str, card: Mapping[str, Any]) -> Weights:
        """Parse one card (older field names upgraded); WeightsError naming the card when it lacks its model."""
        if not isinstance(card, Mapping) or not isinstance(card.get("model"), str):
            raise WeightsError(
                f"weights card {name!r} is malformed (no model name); rebuild it with `zoo weights build {name}`"
            )
        return cls(name, upgrade_card(card))

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.card.get("model_kwargs") or {})

    @property
    def built(self) -> bool:
        """Whether a file with a recorded hash exists for this card (shipped, cached or downloadable)."""
        return bool(self.file and self.sha256)

    @property
    def shipped(self) -> bool:
        """Whether the file is here in the package."""
        return bool(self.file) and (FILES_DIR / str(self.file)).is_file()

    def how_to_build(self) -> str:
        return f"`zoo weights build {self.name}`" + (
            f" ({self.card['build_time']})" if self.card.get("build_time") else ""
        )

    def url(self) -> str | None:
        if self.card.get("url"):
            return str(self.card["url"])
        base = os.environ.get("ZOO_WEIGHTS_URL")
        return f"{base.rstrip('/')}/{self.file}" if base and self.file else None

    def path(self, download: bool = True, progress: bool = False) -> Path:
        """The verified file: shipped, else cached, else downloaded into the cache (hash checked)."""
        if not self.built:
            raise WeightsError(
                f"{self.name} has no trained file yet: build it with {self.how_to_build()}, "
                f"or use random weights explicitly"
            )
        assert self.file and self.sha256
        if self.card.get("local_dir"):  # a save-pretrained folder (local-dir:, hf-hub:): its own file, hash checked
            here = Path(str(self.card["local_dir"])) / self.file
            check_hash(here, self.sha256, self.name)
            return here
        for candidate in (FILES_DIR / self.file, weights_dir() / self.file):
            if candidate.is_file():
                check_hash(candidate, self.sha256, self.name)
                return candidate
        url = self.url()
        if url is None or not download:
            raise WeightsError(
                f"{self.name}: {self.file} is neither shipped nor in {weights_dir()}; build it with "
                f"{self.how_to_build()}, or set ZOO_WEIGHTS_URL to a mirror that has it"
            )
        return download_to_cache(url, self.file, self.sha256, self.name, progress=progress)

    @property
    def shares(self) -> dict[str, Any] | None:
        """Where the file holds only what training changed: the other weights whose tensors it shares (a frozen
        backbone), their hash and the prefix they load under; None for a self-contained file."""
        shares = (self.card.get("file") or {}).get("shares")
        return dict(shares) if shares else None

    def load(self, download: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(state dict in float32, metadata) from the verified file (and, for a file that shares a frozen backbone,
        from that backbone's weights, hash checked)."""
        path = self.path(download)
        tensors, meta = load_file(path)
        if meta.get("model") not in (None, self.model):
            raise WeightsError(
                f"{path} holds weights for {meta['model']} ({meta.get('weights')}), not for {self.model}"
            )
        shares = self.shares
        if shares:
            tensors = {**self._shared_tensors(shares, list(meta.get("shared_keys") or []), download), **tensors}
        return tensors, meta

    def _shared_tensors(self, shares: Mapping[str, Any], keys: list[str], download: bool) -> dict[str, torch.Tensor]:
        from .registry import get_weights

        base = get_weights(str(shares["weights"]))
        if base.sha256 != shares["sha256"]:
            raise WeightsError(
                f"{self.name} shares its frozen tensors with {base.name} as they were (sha256 "
                f"{str(shares['sha256'])[:12]}), but {base.name} is now {str(base.sha256)[:12]}: rebuild {self.name} "
                f"({self.how_to_build()})"
            )
        state = base.load(download)[0]
        missing = [k for k in keys if k not in state]
        if missing or not keys:
            raise WeightsError(f"{self.name}: {base.name} lacks the shared tensors {missing[:3]}; rebuild {self.name}")
        prefix = str(shares.get("prefix", ""))
        return {prefix + k: state[k] for k in keys}

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The model's state dict (float32 tensors; buffers keep their integer dtypes)."""
        return self.load()[0]

    def meta(self) -> dict[str, Any]:
        """What serving needs beside the tensors: vocabularies, tag sets (from the file's header)."""
        return dict(self.load()[1].get("meta") or {})

    def transforms(self) -> ImageTransform | None:
        """The input transform the weights were trained and measured with (image models), else None."""
        pre = self.preprocessing
        return ImageTransform(pre) if pre and pre.get("kind") == "image" else None

    def __str__(self) -> str:
        return self.name


class ImageTransform:
    """A PIL image (any mode, any size) → the (C, H, W) float tensor the weights expect: the server's own
    preprocessing (:func:`handlers.imaging.preprocess`: grayscale or RGB, bilinear resize to the trained size,
    /255, the trained mean and std), without the server's guess at inverting dark-on-light digits."""

    def __init__(self, preprocessing: Mapping[str, Any]) -> None:
        self.preprocessing = dict(preprocessing)
        self.mode = "L" if int(preprocessing.get("channels", 3)) == 1 else "RGB"
        self.size = (int(preprocessing["width"]), int(preprocessing["height"]))

    def __call__(self, image: Any) -> torch.Tensor:
        from handlers.imaging import preprocess

        return torch.from_numpy(preprocess(image, self.preprocessing, invert="no"))

    def __repr__(self) -> str:
        p = self.preprocessing
        return (
            f"ImageTransform({self.mode} {self.size[1]}x{self.size[0]}, bilinear, /255, "
            f"mean={p.get('mean')}, std={p.get('std')})"
        )


def load_into(model: torch.nn.Module, weights: Weights) -> torch.nn.Module:
    """Load ``weights`` into ``model`` (strict); a clear error when they belong to another architecture."""
    state = weights.state_dict()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = next((ln for ln in lines[1:] if ln), lines[0] if lines else "")
        raise WeightsError(
            f"{weights.name} does not fit this {weights.model} build ({reason[:200]}); "
            f"build it with the card's arguments {weights.model_kwargs}"
        ) from None
    return model.eval()


def model_kwargs_for(weights: Weights, kwargs: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The card's builder arguments plus ``kwargs``; refuses arguments that would change the trained shape."""
    merged = {**weights.model_kwargs, **kwargs}
    clash = {k: v for k, v in kwargs.items() if k in weights.model_kwargs and weights.model_kwargs[k] != v}
    if clash:
        raise WeightsError(f"{weights.name} was trained with {weights.model_kwargs}; {clash} would not fit its tensors")
    return {k: v for k, v in merged.items() if k in defaults}
