"""``zoo``: browse the model catalogue."""

from __future__ import annotations

import json

import click
import torch

from zoo.errors import ZooGroup

from ._api import TASKS, count_parameters, get_model, get_spec, list_models


def _param_count(name: str) -> int:
    """Parameters of the default build, counted on the meta device (no memory, no init cost)."""
    with torch.device("meta"):
        return count_parameters(get_model(name))


def _row(name: str) -> dict:
    spec = get_spec(name).resolved()
    first = spec.parts[0]
    return {
        "name": name,
        "task": spec.task,
        "params": _param_count(name),
        "input": {t.name: list(t.sample_shape()) for t in first.inputs},
        "parts": [p.name for p in spec.parts],
        "faithful": spec.faithful,
        "recipes": list(spec.recipes),
        "source": spec.source,
    }


@click.group(cls=ZooGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="torch-model-zoo")
def main() -> None:
    """Browse the model zoo: every architecture of the tutorials, with its spec.

    \b
    zoo list                  table of all models
    zoo list --task gan       only one task kind
    zoo list --json           the same as JSON, for scripts
    zoo info resnet           one model: parts, shapes, preprocessing, recipes
    """


@main.command("list")
@click.option("--task", type=click.Choice(TASKS), help="Only models of this task kind.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (one object per model).")
def list_cmd(task: str | None, as_json: bool) -> None:
    """List registered models: name, task, parameters, input shape (batch axis left out)."""
    rows = [_row(n) for n in list_models(task)]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    header = ("name", "task", "params", "input (per sample)", "recipes")
    lines = [
        (
            r["name"] + ("" if r["faithful"] else " *"),
            r["task"],
            f"{r['params']:,}",
            ", ".join(f"{k} {'x'.join(map(str, v)) or 'scalar'}" for k, v in r["input"].items()),
            ", ".join(r["recipes"]) or "-",
        )
        for r in rows
    ]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    for i, line in enumerate([header, *lines]):
        click.echo("  ".join(str(x).rjust(w) if j == 2 and i else str(x).ljust(w) for j, (x, w) in enumerate(zip(line, widths))).rstrip())
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))
    click.echo(f"\n{len(rows)} models; * = improved variant, not a seed architecture.")


@main.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the spec as JSON.")
def info_cmd(name: str, as_json: bool) -> None:
    """Show one model's spec: parts with input/output shapes, preprocessing, labels, recipes."""
    spec = get_spec(name)
    data = spec.to_dict()
    data["params"] = _param_count(name)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"{name}  ({spec.task}, {data['params']:,} parameters)")
    click.echo(f"  source: {spec.source}")
    click.echo(f"  builder kwargs: {data['kwargs'] or '-'}")
    for part in data["parts"]:
        click.echo(f"  part {part['name']}" + (f" (submodule {part['module']})" if part["module"] else ""))
        for kind in ("inputs", "outputs"):
            for t in part[kind]:
                dyn = ", ".join(f"{k}={v}" for k, v in t["dynamic_axes"].items())
                click.echo(f"    {kind[:-1]:6} {t['name']:14} {t['dtype']:8} {t['shape']}  dynamic: {dyn or '-'}")
    if data["preprocessing"]:
        click.echo(f"  preprocessing: {json.dumps(data['preprocessing'])}")
    if data["labels"]:
        click.echo(f"  labels: {', '.join(data['labels'])}")
    click.echo(f"  recipes: {', '.join(data['recipes']) or '-'}")
    doc = (spec.builder.__doc__ or "").strip()
    if doc:
        click.echo("\n" + "\n".join("  " + line.strip() for line in doc.splitlines()))
