"""Trained weights: a registry of cards (data, not code), safetensors files checked by hash, a download cache.

Modelled on torchvision's ``Weights`` (``models/_api.py``): each entry is named ``MODEL.TAG``
(``lenet.mnist``, ``gan.mnist-lsgan``) and carries its file, hash, the metrics measured on its evaluation
split, how it was trained, and the preprocessing and labels a server needs.

>>> import zoo
>>> model = zoo.get_model("lenet", weights="DEFAULT")       # or weights="mnist", or "lenet.mnist"
>>> w = zoo.get_weights("lenet.mnist")
>>> w.metrics["test_accuracy"], w.transforms()              # the card's figure, the preprocessing it used

The cards live in ``registry.json`` beside this file (the packaged ones: one source of truth for README,
``zoo info``, export and serving) and in ``$ZOO_HOME/weights/registry.json`` (cards a user built with
``zoo weights build``; they take precedence). A file is looked for in the package (shipped weights), then
in the cache (``$ZOO_HOME/weights/``), then fetched from the card's ``url`` (or ``$ZOO_WEIGHTS_URL/FILE``)
with its sha256 checked while it downloads.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ZooError

__all__ = [
    "Weights",
    "WeightsError",
    "download",
    "get_model_weights",
    "get_weights",
    "list_weights",
    "load_file",
    "registry_path",
    "resolve_weights",
    "save_file",
    "zoo_home",
]

PACKAGE_DIR = Path(__file__).parent
#: The packaged cards and shipped files.
REGISTRY_FILE = PACKAGE_DIR / "registry.json"
FILES_DIR = PACKAGE_DIR / "files"
REGISTRY_FORMAT = "torch-model-zoo/weights"
#: Key of the safetensors header entry that holds the card's identity and the model's vocabularies.
META_KEY = "torch-model-zoo"


class WeightsError(ZooError):
    """Weights that cannot be found, fetched, verified or loaded; the message says what to do."""


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``$XDG_CACHE_HOME/torch-model-zoo``, else ``~/.cache/torch-model-zoo`` (as torch.hub)."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "torch-model-zoo"


def weights_dir() -> Path:
    """Where downloaded and locally built weights go (``$ZOO_HOME/weights``)."""
    return zoo_home() / "weights"


def registry_path(local: bool = False) -> Path:
    """The packaged registry, or (``local=True``) the one ``zoo weights build`` writes under ``$ZOO_HOME``."""
    return weights_dir() / "registry.json" if local else REGISTRY_FILE


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- the card


@dataclass(frozen=True)
class Weights:
    """One trained model: its card (``card``: plain JSON data) and how to get its tensors."""

    name: str
    card: Mapping[str, Any]

    @property
    def model(self) -> str:
        return str(self.card["model"])

    @property
    def tag(self) -> str:
        return self.name.split(".", 1)[1]

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.card.get("model_kwargs") or {})

    @property
    def file(self) -> str | None:
        return (self.card.get("file") or {}).get("name")

    @property
    def sha256(self) -> str | None:
        return (self.card.get("file") or {}).get("sha256")

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.card.get("metrics") or {})

    @property
    def headline(self) -> tuple[str, str]:
        h = self.card.get("headline") or {}
        return str(h.get("metric", "")), str(h.get("mode", "max"))

    @property
    def preprocessing(self) -> dict[str, Any] | None:
        return self.card.get("preprocessing")

    @property
    def labels(self) -> list[str] | None:
        return self.card.get("labels")

    @property
    def built(self) -> bool:
        """Whether a file with a recorded hash exists for this card (shipped, cached or downloadable)."""
        return bool(self.file and self.sha256)

    @property
    def shipped(self) -> bool:
        return bool(self.file) and (FILES_DIR / str(self.file)).is_file()

    def how_to_build(self) -> str:
        return f"`zoo weights build {self.name}`" + (f" ({self.card['build_time']})" if self.card.get("build_time") else "")

    def url(self) -> str | None:
        if self.card.get("url"):
            return str(self.card["url"])
        base = os.environ.get("ZOO_WEIGHTS_URL")
        return f"{base.rstrip('/')}/{self.file}" if base and self.file else None

    def path(self, download: bool = True, progress: bool = False) -> Path:
        """The verified file: shipped, else cached, else downloaded into the cache (hash checked)."""
        if not self.built:
            raise WeightsError(f"{self.name} has no trained file yet: build it with {self.how_to_build()}, "
                               f"or use random weights explicitly")
        assert self.file and self.sha256
        for candidate in (FILES_DIR / self.file, weights_dir() / self.file):
            if candidate.is_file():
                _check_hash(candidate, self.sha256, self.name)
                return candidate
        url = self.url()
        if url is None or not download:
            raise WeightsError(
                f"{self.name}: {self.file} is neither shipped nor in {weights_dir()}; build it with "
                f"{self.how_to_build()}, or set ZOO_WEIGHTS_URL to a mirror that has it")
        return download_to_cache(url, self.file, self.sha256, self.name, progress=progress)

    def load(self, download: bool = True) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """(state dict in float32, metadata) from the verified file."""
        path = self.path(download)
        tensors, meta = load_file(path)
        if meta.get("model") not in (None, self.model):
            raise WeightsError(f"{path} holds weights for {meta['model']} ({meta.get('weights')}), not for {self.model}")
        return tensors, meta

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
    """A PIL image (any mode, any size) → the (C, H, W) float tensor the weights expect.

    Converts to grayscale or RGB, resizes bilinearly to the trained size, scales to [0, 1] and
    normalises with the trained mean and std: what the training data pipeline and the server do.
    """

    def __init__(self, preprocessing: Mapping[str, Any]) -> None:
        self.preprocessing = dict(preprocessing)
        channels = int(preprocessing.get("channels", 3))
        self.mode = "L" if channels == 1 else "RGB"
        self.size = (int(preprocessing["width"]), int(preprocessing["height"]))
        self.mean = torch.tensor(preprocessing.get("mean", [0.0] * channels), dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(preprocessing.get("std", [1.0] * channels), dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, image: Any) -> torch.Tensor:
        from PIL import Image

        img = image if image.mode == self.mode else image.convert(self.mode)
        if img.size != self.size:
            img = img.resize(self.size, Image.Resampling.BILINEAR)
        pixels = np.asarray(img, dtype=np.uint8)
        pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
        return (torch.from_numpy(pixels.astype(np.float32) / 255.0) - self.mean) / self.std

    def __repr__(self) -> str:
        p = self.preprocessing
        return (f"ImageTransform({self.mode} {self.size[1]}x{self.size[0]}, bilinear, /255, "
                f"mean={p.get('mean')}, std={p.get('std')})")


# --------------------------------------------------------------------------- the registry


def _read_registry(path: Path) -> dict[str, dict[str, Any]]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"weights registry {path} is unreadable ({e}); delete it or rebuild with `zoo weights build`") from None
    if not isinstance(data, dict) or data.get("format") != REGISTRY_FORMAT or not isinstance(data.get("weights"), dict):
        raise WeightsError(f"{path} is not a torch-model-zoo weights registry")
    return data["weights"]


def registry() -> dict[str, dict[str, Any]]:
    """Every card: the packaged ones, overlaid by those built locally under ``$ZOO_HOME``."""
    cards = dict(_read_registry(REGISTRY_FILE))
    cards.update(_read_registry(registry_path(local=True)))
    return cards


def write_card(name: str, card: Mapping[str, Any], path: Path) -> None:
    """Add or replace one card in the registry file at ``path`` (atomically; sorted by name)."""
    cards = _read_registry(path)
    cards[name] = dict(card)
    text = json.dumps({"format": REGISTRY_FORMAT, "version": 1, "weights": dict(sorted(cards.items()))}, indent=1)
    _atomic_write(path, (text + "\n").encode())


def update_card(name: str, fields: Mapping[str, Any]) -> Path:
    """Set ``fields`` on weights ``name``'s card in the registry file that holds it (the local one overlays the
    packaged one); return that file."""
    local = registry_path(local=True)
    path = local if name in _read_registry(local) else REGISTRY_FILE
    cards = _read_registry(path)
    if name not in cards:
        raise WeightsError(f"no weights card {name!r} in {path}")
    write_card(name, {**cards[name], **fields}, path)
    return path


def is_weights_source(source: str | Path) -> bool:
    """A SOURCE that reads as a weights name (``MODEL.TAG``) rather than a file: no such path exists, no folder
    separator, no checkpoint suffix. Unknown names then get the registry's close-match suggestions."""
    text = str(source)
    return ("." in text and not Path(text).exists() and not any(sep in text for sep in ("/", "\\"))
            and text.rsplit(".", 1)[1].lower() not in FILE_SUFFIXES)


#: What a missing file is named like (``best.pt``), as opposed to a weights tag (``lenet.mnist``).
FILE_SUFFIXES = {"pt", "pth", "pt2", "ckpt", "bin", "safetensors", "onnx", "json", "mar", "zip", "tar", "gz"}


def list_weights(model: str | None = None) -> list[str]:
    """Sorted ``MODEL.TAG`` names, optionally only those of one model."""
    if model is not None:
        from .._api import get_spec

        get_spec(model)  # unknown model: ValueError with suggestions
    return sorted(n for n, c in registry().items() if model is None or c["model"] == model)


def get_weights(name: str) -> Weights:
    """The :class:`Weights` named ``MODEL.TAG`` (``ValueError`` with close matches if unknown)."""
    cards = registry()
    if name not in cards:
        from .._api import unknown_name

        raise unknown_name("weights", name, cards, "zoo weights list")
    return Weights(name, cards[name])


def get_model_weights(model: str) -> list[Weights]:
    """Every weights entry of ``model``, its default first."""
    entries = [get_weights(n) for n in list_weights(model)]
    return sorted(entries, key=lambda w: (not w.card.get("default"), w.name))


def default_weights(model: str) -> Weights | None:
    entries = get_model_weights(model)
    return entries[0] if entries else None


def built_default_weights(model: str, alternatives: str = "") -> Weights:
    """``model``'s default weights when they are built (shipped, cached or downloadable); else a WeightsError that
    says how to get them, followed by ``alternatives`` (what else the caller accepts)."""
    trained = default_weights(model)
    if trained is not None and trained.built:
        return trained
    how = trained.how_to_build() if trained is not None else "`zoo-train` one of its recipes"
    raise WeightsError(f"{model} has no trained weights here: get them with {how}{alternatives}")


def resolve_weights(model: str, weights: str | Weights) -> Weights:
    """``weights`` for ``model``: ``"DEFAULT"``, a tag (``"mnist"``), a full name, or a :class:`Weights`."""
    if isinstance(weights, Weights):
        w = weights
    elif weights == "DEFAULT":
        found = default_weights(model)
        if found is None:
            raise WeightsError(f"{model} has no weights entry; `zoo weights list` shows the trained models")
        w = found
    else:
        w = get_weights(weights if "." in weights else f"{model}.{weights}")
    if w.model != model:
        raise WeightsError(f"{w.name} are weights for {w.model}, not for {model}")
    return w


# --------------------------------------------------------------------------- files


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def serialize(state_dict: Mapping[str, torch.Tensor], meta: Mapping[str, Any], dtype: str = "float32") -> bytes:
    """A safetensors file's bytes: floating tensors cast to ``dtype``, ``meta`` as JSON in its header."""
    from safetensors.torch import save

    cast = getattr(torch, dtype)
    tensors = {k: (v.detach().cpu().to(cast) if v.is_floating_point() else v.detach().cpu()).contiguous()
               for k, v in state_dict.items()}
    return save(tensors, metadata={META_KEY: json.dumps(dict(meta), sort_keys=True)})


def save_file(state_dict: Mapping[str, torch.Tensor], path: Path, meta: Mapping[str, Any], dtype: str = "float32") -> str:
    """Write :func:`serialize`'s bytes atomically (left untouched when identical); return their sha256."""
    data = serialize(state_dict, meta, dtype)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(path)
    if not (path.is_file() and sha256_file(path) == sha):
        _atomic_write(path, data)
    return sha


def load_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(float32 state dict, header metadata) of a safetensors file; a clear error if it is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            for key in f.keys():
                t = f.get_tensor(key)
                tensors[key] = t.float() if t.is_floating_point() else t
        meta = json.loads(header.get(META_KEY, "{}"))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(f"{path} is not a readable safetensors file ({str(e)[:200]}); delete it and fetch or "
                           f"build it again") from None
    return tensors, meta


_VERIFIED: dict[tuple[str, int, int], str] = {}


def _check_hash(path: Path, expected: str, name: str) -> None:
    """The file's sha256 must be the card's (remembered per path, size and mtime within a process)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path} does not match {name}'s card (sha256 {actual[:12]}..., expected {expected[:12]}...): the file is "
            f"corrupt, truncated or from another build. Delete it and fetch it again, or rebuild with "
            f"`zoo weights build {name}`")
    _VERIFIED[key] = expected


def download(url: str, dest: Path, sha256: str, progress: bool = False, timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest``, hashing while it streams; only a complete file with the right hash is
    renamed into place (a failed or wrong download leaves nothing behind)."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"cannot create the weights cache {dest.parent} ({e.strerror}); set ZOO_HOME to a "
                           f"writable folder") from None
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name) if progress else None
            received = 0
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            if total is not None and received != total:
                raise WeightsError(f"download of {url} stopped at {received} of {total} bytes; try again")
        if h.hexdigest() != sha256:
            raise WeightsError(f"{url} does not match the card (sha256 {h.hexdigest()[:12]}..., expected "
                               f"{sha256[:12]}...); the mirror holds another file. Nothing was saved.")
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        if isinstance(e, urllib.error.HTTPError):
            reason = f"HTTP {e.code} {e.reason}"
        else:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"
        raise WeightsError(f"cannot download {url} ({reason}); check the address or your connection") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def download_to_cache(url: str, file: str, sha256: str, name: str, progress: bool = False) -> Path:
    dest = weights_dir() / file
    try:
        return download(url, dest, sha256, progress=progress)
    except WeightsError as e:
        raise WeightsError(f"{name}: {e}") from None


def _progress(total: int | None, label: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)


# --------------------------------------------------------------------------- building a model


def load_into(model: torch.nn.Module, weights: Weights) -> torch.nn.Module:
    """Load ``weights`` into ``model`` (strict); a clear error when they belong to another architecture."""
    state = weights.state_dict()
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
        reason = next((ln for ln in lines[1:] if ln), lines[0] if lines else "")
        raise WeightsError(f"{weights.name} does not fit this {weights.model} build ({reason[:200]}); "
                           f"build it with the card's arguments {weights.model_kwargs}") from None
    return model.eval()


def model_kwargs_for(weights: Weights, kwargs: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """The card's builder arguments plus ``kwargs``; refuses arguments that would change the trained shape."""
    merged = {**weights.model_kwargs, **kwargs}
    clash = {k: v for k, v in kwargs.items() if k in weights.model_kwargs and weights.model_kwargs[k] != v}
    if clash:
        raise WeightsError(f"{weights.name} was trained with {weights.model_kwargs}; {clash} would not fit its tensors")
    return {k: v for k, v in merged.items() if k in defaults}


def markdown_table(names: Iterable[str] | None = None) -> str:
    """README's weights table, generated from the cards (``zoo weights list --markdown``)."""
    rows = ["| weights | metric | value | measured on | file | trained by | wall |", "|---|---|---:|---|---|---|---:|"]
    for name in names or list_weights():
        w = get_weights(name)
        metric, _ = w.headline
        value = w.metrics.get(metric)
        shown = f"**{value:.4f}**" if isinstance(value, (int, float)) and abs(value) < 100 else (
            f"**{value:.2f}**" if isinstance(value, (int, float)) else "not built here")
        judged = w.metrics.get("test_confident_share")
        if judged is not None:  # generators: what the digit classifier makes of their samples
            shown += f" (digits recognised: {judged:.0%}; class entropy {w.metrics['test_class_entropy_bits']:.2f} bits)"
        f = w.card.get("file") or {}
        size = f.get("size", 0)
        shown_size = f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
        file = (f"{shown_size} {f.get('dtype', '')}" + ("" if w.card.get("shipped") else " (not shipped)")
                if w.built else f"`zoo weights build {name}`")
        t = w.card.get("training") or {}
        wall = f"{t['wall_time_s']:.0f} s" if t.get("wall_time_s") is not None else (w.card.get("build_time") or "")
        if t.get("wall_time_s") is not None and str(t.get("device", "")).startswith("cuda"):  # where a GPU trained it
            wall += f" on {t.get('device_name')}"
        split = (w.card.get("dataset") or {}).get("split_description", "")
        rows.append(f"| `{name}`{' *' if w.card.get('default') else ''} | {metric} | {shown} | {split} | {file} | "
                    f"`{t.get('command', '')}` | {wall} |")
    return "\n".join(rows)
