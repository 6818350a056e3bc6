"""``zoo weights build`` and ``zoo weights verify``: the weights commands that train and measure, added to
the catalogue CLI of :mod:`zoo.cli`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from zoo.errors import ZooCommand

from .common import CONTEXT


@click.command("build", cls=ZooCommand, context_settings=CONTEXT)
@click.argument("name")
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data)."
)
@click.option(
    "--device", default="cpu", show_default=True, help="Where to train (cpu, cuda, auto); measuring runs on the CPU."
)
@click.option(
    "--run",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Package a finished `zoo-train` run instead of training (its settings must be the card's).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), help="Run folder for the training (default $ZOO_HOME/builds/NAME/<time>)."
)
@click.option(
    "--ship",
    is_flag=True,
    help="Maintainers: write the file into the package (zoo/weights/files) and its "
    "card into the packaged registry, instead of $ZOO_HOME.",
)
@click.option(
    "--trained-on",
    metavar="DEVICE",
    help='With --run: the machine that trained it (e.g. "NVIDIA H200"), for runs that do not record it '
    "(made before runs did). Never guessed from the machine that builds.",
)
@click.option(
    "--trained-commit",
    metavar="SHA",
    help="With --run: the project commit it was trained at, for runs that do not record it.",
)
@click.option(
    "--notes", help="A sentence to add to the card's notes (where it was trained and measured is written anyway)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the card as JSON.")
def weights_build_cmd(
    name: str,
    data_dir: Path | None,
    device: str,
    run: Path | None,
    out: Path | None,
    ship: bool,
    trained_on: str | None,
    trained_commit: str | None,
    notes: str | None,
    as_json: bool,
) -> None:
    """Train weights NAME with its card's recipe and settings (what `zoo-train` runs), or take a finished run (--run:
    its profile and hyper-parameters become the card's), store the final weights as safetensors (fp16 where the
    metric holds within 0.1 point), measure them on the evaluation split, write the card."""
    from ..weights import build

    if run is None and (trained_on or trained_commit):
        raise click.UsageError("--trained-on and --trained-commit describe a finished run: give --run too")
    card = build(
        name,
        data_dir=data_dir,
        device=device,
        run=run,
        out=out,
        ship=ship,
        log=lambda m: click.echo(m, err=True),
        trained_on=trained_on,
        trained_commit=trained_commit,
        notes=notes,
    )
    click.echo(
        json.dumps(card, indent=2)
        if as_json
        else f"built {name}: {card['file']['name']} ({card['file']['size']:,} bytes, {card['file']['dtype']})"
    )


@click.command("verify", cls=ZooCommand, context_settings=CONTEXT)
@click.argument("names", nargs=-1)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data)."
)
@click.option("--device", default="cpu", show_default=True)
@click.option(
    "--full",
    is_flag=True,
    help="Measure on the whole evaluation split, also where the card has a fixed "
    "verify subset (the big CIFAR-10 networks: 2,000 test images by default, minutes on a CPU in full).",
)
@click.option(
    "--record",
    is_flag=True,
    help="Maintainers, with --full: write what the whole-split evaluation found beyond its scalars (a classifier's "
    "confusion matrix and per-class accuracy) into each card that holds within tolerance (the documentation "
    "site draws it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def weights_verify_cmd(
    names: tuple[str, ...], data_dir: Path | None, device: str, full: bool, record: bool, as_json: bool
) -> None:
    """Recompute each card's metrics (default: every built weights) and print card vs measured; exits 1 when one is
    outside its tolerance. Cards with a verify subset are measured on it (its figure is on the card beside the
    whole split's) unless --full."""
    from zoo.weights import get_weights, list_weights

    from ..verify import format_value, verify

    if record and not full:
        raise click.UsageError("--record writes the whole split's evaluation: give --full too")
    chosen = list(names) or [n for n in list_weights() if get_weights(n).built]

    def show(row: dict[str, Any]) -> None:
        if as_json:
            return
        status = {True: "ok", False: "FAIL", None: row.get("note", "not built")}[row["ok"]]
        click.echo(
            f"{row['name']:<28} {row['metric']:<18} card {format_value(row['card']):>10}  "
            f"measured {format_value(row['measured']):>10}  {status}"
            + (f"  ({row['split']})" if row.get("split", "").startswith("verify") else "")
        )

    rows = verify(chosen, data_dir, device, log=show, full=full, record=record)
    failed = [r["name"] for r in rows if r["ok"] is False]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        checked = [r for r in rows if r["ok"] is not None]
        click.echo(
            f"{len(checked) - len(failed)} of {len(checked)} within tolerance"
            + (f"; {len(rows) - len(checked)} not checked" if len(checked) < len(rows) else "")
            + (f"; failed: {', '.join(failed)}" if failed else "")
        )
    sys.exit(1 if failed else 0)
