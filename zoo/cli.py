"""``zoo``: browse the model catalogue."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import torch

from zoo.errors import ZooGroup

from ._api import TASKS, count_parameters, get_model, get_spec, list_models
from .weights import Weights


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
    zoo info resnet           one model: parts, shapes, preprocessing, recipes, trained weights
    zoo weights list          the trained weights, each with its measured metric
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
        click.echo(
            "  ".join(
                str(x).rjust(w) if j == 2 and i else str(x).ljust(w) for j, (x, w) in enumerate(zip(line, widths))
            ).rstrip()
        )
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
    from .weights import list_weights

    data["weights"] = [_weights_row(n) for n in list_weights(name)]
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
    for w in data["weights"]:
        value = f"{w['value']:.4f}" if isinstance(w["value"], (int, float)) else "not built"
        click.echo(
            f"  weights: {w['name']}{' (default)' if w['default'] else ''}  {w['metric']} {value}  "
            f"{'shipped' if w['shipped'] else w['build'] or 'cache or mirror'}"
        )
    doc = (spec.builder.__doc__ or "").strip()
    if doc:
        click.echo("\n" + "\n".join("  " + line.strip() for line in doc.splitlines()))


# --------------------------------------------------------------------------- zoo weights


#: The entry-point group through which installed packages add ``zoo weights`` subcommands (as Flask's
#: ``flask.commands``): this project's training package adds ``build`` and ``verify``, its export package ``int8``
#: (setup.cfg). The catalogue needs neither; the command is whole wherever they are installed beside it.
WEIGHTS_COMMANDS = "torch_model_zoo.weights_commands"


class PluggedGroup(ZooGroup):
    """A group that also offers the commands registered under :data:`WEIGHTS_COMMANDS`, loaded when asked for."""

    def _registered(self) -> dict[str, Any]:
        from importlib.metadata import entry_points

        return {ep.name: ep for ep in entry_points(group=WEIGHTS_COMMANDS)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self._registered()})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in (registered := self._registered()):
            command = registered[name].load()
        return command


@main.group("weights", cls=PluggedGroup)
def weights_group() -> None:
    """Trained weights: the registry's cards, their files and how each was measured.

    \b
    zoo weights list                  name, metric, size, shipped or not
    zoo weights info lenet.mnist      the whole card (--json for scripts)
    zoo weights verify                recompute every card's metric on its evaluation split
    zoo weights build resnet.cifar10  train with the card's recipe and settings, measure, write the card
    zoo weights int8 resnet.cifar10   int8 accuracy and speed-up on this machine (--record: on the card)
    """


def _weights_row(name: str) -> dict:
    from .weights import get_weights

    w = get_weights(name)
    metric, mode = w.headline
    f = w.card.get("file") or {}
    return {
        "name": name,
        "model": w.model,
        "default": bool(w.card.get("default")),
        "metric": metric or None,
        "value": w.metrics.get(metric),
        "mode": mode,
        "size": f.get("size"),
        "dtype": f.get("dtype"),
        "shipped": w.shipped,
        "built": w.built,
        "build": None if w.built else w.how_to_build(),
    }


@weights_group.command("list")
@click.option("--model", help="Only the weights of this model.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option(
    "--markdown",
    type=click.Choice(["weights", "int8", "gpu"]),
    is_flag=False,
    flag_value="weights",
    help="Print one of README's tables, generated from the cards: the weights (the default), their int8 figures, "
    "or those a GPU trained.",
)
def weights_list_cmd(model: str | None, as_json: bool, markdown: str | None) -> None:
    """List the registry's weights: metric on the evaluation split, file size, shipped or how to build."""
    from .weights import gpu_table, int8_table, list_weights, markdown_table

    names = list_weights(model)
    if markdown:
        click.echo({"weights": markdown_table, "int8": int8_table, "gpu": gpu_table}[markdown](names))
        return
    rows = [_weights_row(n) for n in names]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max((len(r["name"]) + 2 for r in rows), default=4)
    click.echo(f"{'weights':<{width}}  {'metric':<18} {'value':>10}  {'file':<16} status")
    for r in rows:
        value = f"{r['value']:.4f}" if isinstance(r["value"], (int, float)) else "-"
        size = f"{r['size'] / 1e6:.2f} MB {r['dtype']}" if r["size"] else "-"
        status = "shipped" if r["shipped"] else ("cached/downloadable" if r["built"] else f"build: {r['build']}")
        click.echo(
            f"{r['name'] + (' *' if r['default'] else ''):<{width}}  {r['metric'] or '-':<18} {value:>10}  "
            f"{size:<16} {status}"
        )
    click.echo(f'\n{len(rows)} weights; * = the model\'s default (weights="DEFAULT")')


@weights_group.command("save-pretrained")
@click.argument("name")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def weights_save_pretrained_cmd(name: str, folder: Path) -> None:
    """Write weights NAME into FOLDER in the Hugging Face Hub's layout: model.safetensors (the card's file, byte
    for byte), config.json (architecture, arguments, labels, preprocessing, the card) and README.md (a Hub model
    card: YAML front matter with a model-index of the measured metrics). Load it back with local-dir:FOLDER.

    \b
    zoo weights save-pretrained lenet.mnist lenet-mnist/
    python -c 'import zoo; zoo.get_model("lenet", weights="local-dir:lenet-mnist")'
    zoo-serve start local-dir:lenet-mnist
    """
    from .weights import get_weights
    from .weights.pretrained import save_pretrained

    w = get_weights(name)
    save_pretrained(w, folder)
    click.echo(f"{w.name} -> {folder}/ (model.safetensors, config.json, README.md); load it as local-dir:{folder}")


@weights_group.command("info")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def weights_info_cmd(name: str, as_json: bool) -> None:
    """Show the card of weights NAME (MODEL.TAG): file, metrics, dataset, how it was trained."""
    from .weights import get_weights

    w = get_weights(name)
    if as_json:
        click.echo(json.dumps({**w.card, "shipped": w.shipped}, indent=2))
        return
    click.echo(_card_text(w))


def int8_lines(entry: dict) -> list[str]:
    """A card's int8 figures (``zoo weights int8 NAME --record``): accuracy beside fp32's, ORT speed-up."""
    if "refused" in entry:
        return [f"  int8: refused: {entry['refused']}"]
    lines = []
    for part, p in (entry.get("parts") or {}).items():
        if "refused" in p:
            lines.append(f"  int8 {part}: refused: {p['refused']}")
            continue
        quality = (
            f"accuracy {p['fp32_accuracy']:.4f} fp32 -> {p['int8_accuracy']:.4f} int8"
            if "int8_accuracy" in p
            else f"output relative error {p.get('output_rel_error', float('nan')):.4f}"
        )
        fast = ", ".join(f"{b.replace('batch', 'batch ')} {s:.2f}x" for b, s in p.get("speedup", {}).items())
        lines.append(
            f"  int8 {part}: {quality}; ORT speed-up {fast or '-'}"
            + ("" if p.get("kept", True) else " (more than 1 point lost: zoo-export keeps fp32)")
        )
        drawn = p.get("verify_subset") or {}
        if "int8_accuracy" in drawn:
            lines.append(
                f"    on the fixed {drawn['samples']:,}-sample draw (what CI re-measures): "
                f"{drawn['fp32_accuracy']:.4f} fp32 -> {drawn['int8_accuracy']:.4f} int8"
            )
    lines.append(f"    measured {str(entry.get('measured', '?'))[:10]} on {entry.get('machine')}")
    return lines


def _card_text(w: Weights) -> str:
    c = w.card
    lines = [f"{w.name}  ({w.model}, {c.get('task')}{', default' if c.get('default') else ''})"]
    f = c.get("file") or {}
    if w.built:
        lines.append(
            f"  file: {f['name']}  {f['size']:,} bytes  {f['dtype']}  {f['parameters']:,} parameters  "
            f"sha256 {f['sha256'][:16]}...  ({'shipped' if w.shipped else 'cache or mirror'})"
        )
        if w.shares:
            s = w.shares
            lines.append(
                f"  shares: {s.get('tensors')} frozen tensors with {s['weights']} (sha256 {str(s['sha256'])[:16]}..., "
                f"loaded under {s.get('prefix')!r}): the file holds the rest"
            )
    else:
        lines.append(f"  file: not built here; {w.how_to_build()}")
    ds = c.get("dataset") or {}
    if ds:
        lines.append(f"  dataset: {ds.get('name')} ({ds.get('source')}; licence: {ds.get('licence')})")
        lines.append(f"  measured on: {ds.get('split_description')}")
    metric, _ = w.headline
    for k, v in w.metrics.items():
        lines.append(f"    {k:<26} {v:.6g}" + ("   <- headline" if k == metric else ""))
    subset = c.get("verify_subset")
    if subset:
        lines.append(
            f"  verify subset ({subset['samples']:,} test samples, seed {subset['seed']}; what `zoo weights verify` "
            f"reads, --full the whole split): {metric} {subset['metrics'].get(metric, float('nan')):.6g}"
        )
    t = c.get("training") or {}
    lines.append(f"  trained by: {t.get('command') or ''}".rstrip())
    lines.append(
        f"  recipe {t.get('recipe')} [{t.get('profile')}], seed {t.get('seed')}, overrides {t.get('overrides') or '-'}, "
        f"model args {t.get('model_args') or '-'}"
    )
    if t.get("wall_time_s") is not None:
        lines.append(
            f"  {t.get('epochs')} epochs, {t.get('steps')} steps, {t['wall_time_s']:.0f} s on {t.get('device_name')}"
            + (f"; measured on {t['measured_on']}" if t.get("measured_on") else "")
        )
        v = t.get("versions") or {}
        lines.append(
            f"  torch {v.get('torch')}, python {v.get('python')}, commit {t.get('commit')}, {t.get('created')}"
        )
    segments = t.get("segments") or []
    if len(segments) > 1:  # a resumed run: where each part of it trained
        for s in segments:
            versions = s.get("versions") or {}
            lines.append(
                f"    steps {s.get('from_step')}-{s.get('to_step')}: {s.get('device_name')} ({s.get('precision')}), "
                f"torch {versions.get('torch', 'not recorded')}, commit {s.get('commit')}"
            )
    if t.get("provenance"):
        lines.append("  provenance: " + "; ".join(f"{k} {v}" for k, v in t["provenance"].items()))
    if c.get("preprocessing"):
        lines.append(f"  preprocessing: {json.dumps(c['preprocessing'])}")
    if c.get("labels"):
        labels = c["labels"]
        lines.append(f"  labels: {', '.join(labels[:12])}{' ...' if len(labels) > 12 else ''}")
    if c.get("notes"):
        lines.append(f"  notes: {c['notes']}")
    if c.get("int8"):
        lines.extend(int8_lines(c["int8"]))
    lines.append(f"  load: zoo.get_model({w.model!r}, weights={w.tag!r})")
    return "\n".join(lines)
