"""The registry: cards by ``MODEL.TAG``, the packaged file overlaid by the one ``zoo weights build`` writes under
``$ZOO_HOME``; each file is parsed once and read again only when it changes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .card import Weights, upgrade_card
from .files import REGISTRY_FILE, WeightsError, atomic_write, is_pretrained_source, registry_path

REGISTRY_FORMAT = "torch-model-zoo/weights"
#: What a missing file is named like (``best.pt``), as opposed to a weights tag (``lenet.mnist``).
FILE_SUFFIXES = {"pt", "pth", "pt2", "ckpt", "bin", "safetensors", "onnx", "json", "mar", "zip", "tar", "gz"}

#: path → (the file's identity when parsed, its Weights)
_PARSED: dict[Path, tuple[tuple[int, int, int], dict[str, Weights]]] = {}


def _read(path: Path) -> dict[str, Weights]:
    """The Weights of the registry file at ``path``, each parsed from its card; empty when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return {}
    identity = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _PARSED.get(path)
    if cached is not None and cached[0] == identity:
        return cached[1]
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(
            f"weights registry {path} is unreadable ({e}); delete it or rebuild with `zoo weights build`"
        ) from None
    if not isinstance(data, dict) or data.get("format") != REGISTRY_FORMAT or not isinstance(data.get("weights"), dict):
        raise WeightsError(f"{path} is not a torch-model-zoo weights registry")
    parsed = {name: Weights.from_card(name, card) for name, card in data["weights"].items()}
    _PARSED[path] = (identity, parsed)
    return parsed


def _entries() -> dict[str, Weights]:
    return {**_read(REGISTRY_FILE), **_read(registry_path(local=True))}


def registry() -> dict[str, dict[str, Any]]:
    """Every card as plain data: the packaged ones, overlaid by those built locally under ``$ZOO_HOME``."""
    return {name: dict(w.card) for name, w in _entries().items()}


def write_card(name: str, card: Mapping[str, Any], path: Path) -> None:
    """Add or replace one card in the registry file at ``path`` (atomically; sorted by name)."""
    cards = {n: dict(w.card) for n, w in _read(path).items()}
    cards[name] = upgrade_card(card)
    text = json.dumps({"format": REGISTRY_FORMAT, "version": 1, "weights": dict(sorted(cards.items()))}, indent=1)
    atomic_write(path, (_NUMBER_LIST.sub(_one_line, text) + "\n").encode())


#: A JSON list of numbers spread one per line (a confusion matrix's rows, a history's values): kept on one line.
_NUMBER_LIST = re.compile(r"\[\s+((?:-?[\d.eE+-]+,\s+)*-?[\d.eE+-]+)\s+\]")


def _one_line(match: re.Match[str]) -> str:
    return "[" + " ".join(match.group(1).split()) + "]"


def update_card(name: str, fields: Mapping[str, Any]) -> Path:
    """Set ``fields`` on weights ``name``'s card in the registry file that holds it (the local one overlays the
    packaged one); return that file."""
    local = registry_path(local=True)
    path = local if name in _read(local) else REGISTRY_FILE
    entries = _read(path)
    if name not in entries:
        raise WeightsError(f"no weights card {name!r} in {path}")
    write_card(name, {**entries[name].card, **fields}, path)
    return path


def is_weights_source(source: str | Path) -> bool:
    """A SOURCE that reads as a weights name (``MODEL.TAG``) rather than a file: no such path exists, no folder
    separator, no checkpoint suffix. Unknown names then get the registry's close-match suggestions."""
    text = str(source)
    if is_pretrained_source(text):  # a save-pretrained folder (zoo.weights.pretrained)
        return True
    return (
        "." in text
        and not Path(text).exists()
        and not any(sep in text for sep in ("/", "\\"))
        and text.rsplit(".", 1)[1].lower() not in FILE_SUFFIXES
    )


def list_weights(model: str | None = None) -> list[str]:
    """Sorted ``MODEL.TAG`` names, optionally only those of one model."""
    if model is not None:
        from .._api import get_spec

        get_spec(model)  # unknown model: ValueError with suggestions
    return sorted(n for n, w in _entries().items() if model is None or w.model == model)


def get_weights(name: str) -> Weights:
    """The :class:`Weights` named ``MODEL.TAG`` (``ValueError`` with close matches if unknown), or those of a
    save-pretrained folder named ``local-dir:DIR`` or ``hf-hub:ORG/NAME``."""
    if is_pretrained_source(name):
        from .pretrained import load_pretrained

        return load_pretrained(name)
    entries = _entries()
    if name not in entries:
        from ..errors import unknown_name

        raise unknown_name("weights", name, entries, "zoo weights list")
    return entries[name]


def get_model_weights(model: str) -> list[Weights]:
    """Every weights entry of ``model``, its default first."""
    entries = [get_weights(n) for n in list_weights(model)]
    return sorted(entries, key=lambda w: (not w.default, w.name))


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
        pretrained = is_pretrained_source(weights)
        w = get_weights(weights if "." in weights or pretrained else f"{model}.{weights}")
    if w.model != model:
        raise WeightsError(f"{w.name} are weights for {w.model}, not for {model}")
    return w
