"""Weights as a folder in the Hugging Face Hub's layout: ``model.safetensors`` (the card's file, byte for byte),
``config.json`` (architecture, arguments, label names, preprocessing, and the whole card) and ``README.md`` (a model
card with the Hub's YAML front matter and a ``model-index`` of the measured metrics).

``zoo weights save-pretrained NAME DIR`` writes one; ``local-dir:DIR`` names it wherever weights are named
(``zoo.get_model(..., weights="local-dir:DIR")``, ``zoo-export``, ``zoo-serve start``), as timm's ``local-dir:``
does; ``hf-hub:ORG/NAME`` fetches such a folder from the Hub where it can be reached.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .card import Weights
from .files import HF_HUB, LOCAL_DIR, WeightsError, atomic_write, is_pretrained_source, save_file

__all__ = ["HF_HUB", "LOCAL_DIR", "is_pretrained_source", "load_pretrained", "save_pretrained"]
FORMAT = "torch-model-zoo/pretrained"
FILE = "model.safetensors"
#: The Hub's pipeline tag for each task of the zoo.
PIPELINE_TAGS = {
    "image-classification": "image-classification",
    "autoencoder": "image-to-image",
    "vae": "unconditional-image-generation",
    "gan": "unconditional-image-generation",
    "language-model": "text-generation",
    "tagging": "token-classification",
    "q-network": "reinforcement-learning",
    "sequence-regression": "time-series-forecasting",
    "regression": "tabular-regression",
    "classification": "tabular-classification",
}


def save_pretrained(weights: Weights, folder: Path) -> Path:
    """Write ``weights`` into ``folder`` in the Hub's layout; the tensors file is the card's own, copied (one that
    shares a frozen backbone with other weights is written whole: the folder stands alone)."""
    source = weights.path()
    folder.mkdir(parents=True, exist_ok=True)
    card = json.loads(json.dumps(dict(weights.card)))
    if weights.shares:
        state, header = weights.load()
        header = {k: v for k, v in header.items() if k != "shared_keys"}
        dtype = str(card["file"].get("dtype", "float32"))
        card["file"].pop("shares")
        card["file"]["sha256"] = save_file(state, folder / FILE, header, dtype=dtype)
        card["file"]["size"] = (folder / FILE).stat().st_size
    else:
        shutil.copyfile(source, folder / FILE)
    config = {
        "format": FORMAT,
        "weights": weights.name,
        "architecture": weights.model,
        "model_kwargs": weights.model_kwargs,
        "task": card.get("task"),
        "labels": weights.labels,
        "preprocessing": weights.preprocessing,
        "card": card,
    }
    atomic_write(folder / "config.json", (json.dumps(config, indent=2) + "\n").encode())
    atomic_write(folder / "README.md", model_card(weights).encode())
    return folder


def _yaml(value: Any, indent: int = 0) -> list[str]:
    """A small YAML writer for the front matter (mappings, lists, scalars as JSON strings or numbers)."""
    pad = " " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines += [f"{pad}{k}:", *_yaml(v, indent + 2)]
            else:
                lines.append(f"{pad}{k}: {json.dumps(v)}")
        return lines
    if isinstance(value, list):
        lines = []
        for item in value:
            inner = _yaml(item, indent + 2)
            if isinstance(item, (dict, list)) and item:
                lines += [f"{pad}- {inner[0].lstrip()}", *inner[1:]]
            else:
                lines.append(f"{pad}- {json.dumps(item)}")
        return lines
    return [f"{pad}{json.dumps(value)}"]


def front_matter(weights: Weights) -> dict[str, Any]:
    """The Hub's card metadata: library, licence, tags, datasets, pipeline tag, base model, measured metrics."""
    card = weights.card
    dataset = card.get("dataset") or {}
    training = card.get("training") or {}
    task = str(card.get("task", ""))
    pipeline = PIPELINE_TAGS.get(task, task)
    meta: dict[str, Any] = {
        "library_name": "torch-model-zoo",
        "license": "mit",
        "tags": ["pytorch", "safetensors", "torch-model-zoo", weights.model, task],
        "datasets": [dataset["name"]] if dataset.get("name") else [],
        "pipeline_tag": pipeline,
    }
    base = (card.get("base") or {}).get("name") if isinstance(card.get("base"), dict) else card.get("base")
    base = base or (training.get("base") if isinstance(training.get("base"), str) else None)
    if base:
        meta["base_model"] = base
    metrics = [
        {"type": k, "value": v, "name": k.replace("_", " ")}
        for k, v in weights.metrics.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    meta["model-index"] = [
        {
            "name": weights.name,
            "results": [
                {
                    "task": {"type": pipeline},
                    "dataset": {"name": dataset.get("name", ""), "type": dataset.get("name", "")},
                    "metrics": metrics,
                }
            ],
        }
    ]
    return meta


def model_card(weights: Weights) -> str:
    """README.md: the front matter, then what the weights are, how they were measured and how to load them."""
    card, t = weights.card, weights.card.get("training") or {}
    metric, _ = weights.headline
    dataset = card.get("dataset") or {}
    lines = ["---", *_yaml(front_matter(weights)), "---", "", f"# {weights.name}", ""]
    lines += [
        f"`{weights.model}` ({card.get('task')}) trained by `{t.get('command', '')}` on {t.get('device_name', '?')}.",
        "",
        f"Measured on {dataset.get('split_description', 'its evaluation split')}: "
        + ", ".join(f"{k} {v:.6g}" for k, v in weights.metrics.items() if isinstance(v, (int, float)))
        + f" (headline: {metric}).",
        "",
        f"Dataset: {dataset.get('name', '?')} ({dataset.get('source', '?')}; licence: {dataset.get('licence', '?')}).",
        "",
        "```python",
        "import zoo",
        "",
        f'model = zoo.get_model("{weights.model}", weights="local-dir:THIS_FOLDER")',
        "```",
        "",
        "The whole card (provenance, hyper-parameters, preprocessing) is `config.json`'s `card`.",
        "",
    ]
    return "\n".join(lines)


def load_pretrained(source: str) -> Weights:
    """The :class:`Weights` of a ``local-dir:DIR`` folder (or an ``hf-hub:ORG/NAME`` one, fetched first)."""
    if source.startswith(HF_HUB):
        folder = _from_hub(source.removeprefix(HF_HUB))
    else:
        folder = Path(source.removeprefix(LOCAL_DIR)).expanduser()
    config_file = folder / "config.json"
    try:
        config = json.loads(config_file.read_text())
    except FileNotFoundError:
        raise WeightsError(
            f"{source}: {config_file} not found; a local-dir: folder is what `zoo weights save-pretrained` writes"
        ) from None
    except (OSError, json.JSONDecodeError) as e:
        raise WeightsError(f"{source}: {config_file} is unreadable ({e})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT or not isinstance(config.get("card"), dict):
        raise WeightsError(f"{source}: {config_file} is not a torch-model-zoo pretrained folder's config")
    if not (folder / FILE).is_file():
        raise WeightsError(f"{source}: {folder / FILE} is missing")
    card = {**config["card"], "file": {**(config["card"].get("file") or {}), "name": FILE}, "local_dir": str(folder)}
    return Weights.from_card(str(config.get("weights") or source), card)


def _from_hub(repo: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise WeightsError(f"hf-hub:{repo} needs huggingface_hub: pip install huggingface_hub") from None
    try:
        return Path(snapshot_download(repo_id=repo, allow_patterns=[FILE, "config.json", "README.md"]))
    except Exception as e:  # offline, unknown repository, no permission: one clear line
        raise WeightsError(
            f"hf-hub:{repo} could not be fetched from the Hugging Face Hub ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:160] if str(e) else 'no detail'}); download the folder elsewhere and name it "
            "with local-dir:DIR"
        ) from None
