"""The ``zoo-train`` command line that reproduces a card's run: its recipe, profile, overrides (a mapping field's
changed entries as dotted ``--set`` keys), model arguments, dataset and seed."""

from __future__ import annotations

import json
from typing import Any

from .recipes import get_recipe


def train_command(card: dict[str, Any]) -> str:
    """The ``zoo-train`` command line that trains a card's weights."""
    t = card["training"]
    args = [f"zoo-train {t['recipe']}"]
    if t["recipe"] == "finetune":  # what it started from and the photos it read
        args += [
            f"--from {t.get('from', 'none')}",
            f"--data-dir {t.get('photos', 'PHOTOS')}",
            f"--size {t.get('size')}",
        ]
    if t.get("profile") and t["profile"] != get_recipe(t["recipe"]).default:
        args.append(f"--profile {t['profile']}")
    args += [f"--set {k}={v}" for k, v in _set_arguments(t)]
    args += [f"--model-arg {k}={_cli_value(v)}" for k, v in sorted((t.get("model_args") or {}).items())]
    if t.get("dataset") and t["dataset"] != get_recipe(t["recipe"]).dataset:
        args.append(f"--dataset {t['dataset']}")
    args.append(f"--seed {t.get('seed', 0)}")
    return " ".join(args)


def _set_arguments(t: dict[str, Any]) -> list[tuple[str, str]]:
    """A card's overrides as ``--set`` pairs; a changed mapping field (``extra``, ``augment``) as one dotted key per
    entry that differs from the profile's (``extra.tta=0``), which the command line reads back."""
    try:
        defined = get_recipe(t["recipe"]).profile(str(t.get("profile") or get_recipe(t["recipe"]).default)).to_dict()
    except ValueError:
        defined = {}
    pairs = []
    for key, value in sorted((t.get("overrides") or {}).items()):
        if isinstance(value, dict) and isinstance(defined.get(key), dict):
            old = defined[key]
            pairs += [(f"{key}.{k}", _cli_entry(v)) for k, v in sorted(value.items()) if old.get(k) != v]
        else:
            pairs.append((key, _cli_value(value)))
    return pairs


def _cli_entry(value: Any) -> str:
    """A mapping entry as the command line reads it (``parse_entry``): scalars as words, the rest as JSON."""
    return _cli_value(value) if isinstance(value, (bool, int, float, str)) else json.dumps(value)


def _cli_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "/".join(str(v) for v in value)
    return str(value)
