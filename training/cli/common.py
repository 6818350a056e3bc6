"""What the training CLIs share: click settings, KEY=VALUE pairs, errors as click errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import click

from ..recipes import RECIPES, list_recipes

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def pairs(values: tuple[str, ...], what: str) -> dict[str, str]:
    out = {}
    for item in values:
        if "=" not in item:
            raise click.BadParameter(f"expected key=value, got {item!r}", param_hint=what)
        key, _, value = item.partition("=")
        out[key.strip()] = value.strip()
    return out


def fixed(variant: Mapping[str, Any], overrides: dict[str, Any], model_kwargs: dict[str, Any]) -> bool:
    """Whether the command line sets every setting a recipe variant varies (then it trains that one run:
    ``zoo-train bn-demo --model-arg batch_norm=true``)."""
    keys = [k for k in variant if k != "label"]
    return all(k.removeprefix("model.") in model_kwargs if k.startswith("model.") else k in overrides for k in keys)


def fail(e: Exception) -> None:
    raise click.ClickException(str(e)) from None


def print_recipes(as_json: bool) -> None:
    rows = [
        {
            "name": r.name,
            "model": r.model,
            "step": r.step,
            "dataset": r.dataset,
            "profiles": list(r.profiles),
            "default_profile": r.default,
            "description": r.description,
            "source": r.source,
            "target": r.target,
            "departure": r.departure,
        }
        for r in (RECIPES[n] for n in list_recipes())
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(len(r["name"]) for r in rows)
    for r in rows:
        profiles = "/".join(f"{p}*" if p == r["default_profile"] else p for p in r["profiles"])
        click.echo(f"{r['name']:<{width}}  {r['model']:<18} {r['dataset']:<14} {profiles:<24} {r['description']}")
        if r["departure"]:
            click.echo(f"{'':<{width}}    default departs from the seed: {r['departure']}")
    click.echo("\n* = the default profile (what `zoo-train NAME` runs)")
