"""``zoo-export``: checkpoints or registry models → TorchScript / ONNX / torch.export, parity-checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo.errors import ZooCommand
from zoo.weights import is_pretrained_source, is_weights_source

from .core import FORMATS, export
from .parity import recheck


def _summary_lines(record: dict) -> list[str]:
    lines = []
    for name, part in record["parts"].items():
        arts = part["artifacts"]
        how = []
        if "torchscript" in arts:
            how.append(f"torchscript ({arts['torchscript']['method']})")
        if "onnx" in arts:
            how.append(f"onnx ({arts['onnx']['exporter']}, opset {arts['onnx']['opset']})")
        if "exported" in arts:
            static = arts["exported"]["static_axes"]
            how.append("torch.export" + (f" (static: {', '.join(static)})" if static else ""))
        lines.append(f"{name}: " + ", ".join(how))
        for case, results in part["parity"]["cases"].items():
            cells = []
            for runtime, r in results.items():
                if not isinstance(r, dict) or "ok" not in r:
                    continue
                if r.get("skipped"):
                    cells.append(f"{runtime} skipped")
                    continue
                worst = max((o.get("max_abs", float("inf")) for o in r["outputs"].values()), default=0.0)
                extra = f", argmax {r['argmax_agree']}" if "argmax_agree" in r else ""
                cells.append(f"{runtime} {'ok' if r['ok'] else 'FAIL'} (max abs {worst:.1e}{extra})")
            lines.append(f"  {case:<10} " + "; ".join(cells))
        if part["parity"].get("real_samples"):
            lines.append(f"  real samples: {part['parity']['real_samples']}")
    return lines


#: ``--views`` of every command that exports (zoo-export, zoo-serve archive).
VIEWS_OPTION = click.option(
    "--views",
    type=click.IntRange(0, 2),
    default=0,
    show_default=True,
    help="Image classifiers: answer with logits averaged over test-time views inside the exported graph (1: the "
    "image and its mirror; 2: and 1-pixel shifts of both, six), as `zoo-eval --tta` measures; costs that many passes.",
)


@click.command(cls=ZooCommand, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="torch-model-zoo")
@click.argument("source", type=str)
@click.option(
    "--format",
    "formats",
    default="all",
    show_default=True,
    help="torchscript, onnx, exported, or all (comma-separated list allowed).",
)
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default exports/<model>/).")
@click.option(
    "--opset",
    type=click.IntRange(7, None),
    help="ONNX opset (default: the exporter's, 18 or newer); an older "
    "one uses the legacy exporter, and an opset nothing can write is an error.",
)
@click.option("--part", "parts", multiple=True, help="Export only these parts (e.g. generator).")
@click.option(
    "--check",
    "check_only",
    is_flag=True,
    help="SOURCE is an export folder: re-verify hashes and parity against its recorded results.",
)
@click.option(
    "--real-samples",
    default="256",
    show_default=True,
    help="Real test samples to check when the dataset is at hand (a number, or 'all').",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data)."
)
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    help="Also write <part>.int8.onnx: static QDQ for convolutional parts (calibrated on training data or the "
    "part's own input distribution), dynamic for matrix-product ones; measured beside fp32.",
)
@click.option(
    "--calibration",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    help="int8 calibration method (default: the one measured best for the model family).",
)
@click.option(
    "--calibration-samples", type=click.IntRange(min=1), help="int8 calibration samples (default: per family)."
)
@click.option(
    "--keep-float",
    type=click.Choice(["first", "last"]),
    multiple=True,
    help="Keep the first / last compute layer in float in the int8 model (repeatable).",
)
@click.option("--allow-drop", is_flag=True, help="Keep an int8 model whose accuracy is more than 1 point below fp32's.")
@click.option(
    "--random-weights",
    is_flag=True,
    help="SOURCE is a model name: export it with fresh random weights (seeded), not trained ones.",
)
@VIEWS_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print export.json (or the check report) as JSON.")
def main(
    source: str,
    formats: str,
    out: Path | None,
    opset: int | None,
    parts: tuple[str, ...],
    check_only: bool,
    real_samples: str,
    data_dir: Path | None,
    quantize: str | None,
    calibration: str | None,
    calibration_samples: int | None,
    keep_float: tuple[str, ...],
    allow_drop: bool,
    random_weights: bool,
    views: int,
    as_json: bool,
) -> None:
    """Export SOURCE (trained weights such as lenet.mnist, a model name for its default trained weights, a
    checkpoint or a run folder) and prove that TorchScript, onnxruntime and torch.export compute what PyTorch
    computes.

    \b
    zoo-export lenet.mnist                       trained weights from the registry (`zoo weights list`)
    zoo-export runs/mnist-cnn-mnist/<time>/checkpoints/best.pt --out exports/mnist-cnn
    zoo-export dcgan --random-weights --format onnx --part generator
    zoo-export speednet.cifar10 --views 1        the classifier averaging the image and its mirror
    zoo-export --check exports/mnist-cnn

    Exits non-zero when any parity check fails.
    """
    if check_only:
        report = recheck(source)
        if as_json:
            click.echo(json.dumps(report, indent=2))
        else:
            for name, part in report["parts"].items():
                click.echo(f"{name}: hashes {part['hashes']}")
                for case, results in part["cases"].items():
                    click.echo(
                        f"  {case:<10} " + "; ".join(f"{k} {'ok' if v['ok'] else 'FAIL'}" for k, v in results.items())
                    )
            click.echo("check passed" if report["passed"] else "CHECK FAILED")
        sys.exit(0 if report["passed"] else 1)

    chosen = list(FORMATS) if formats == "all" else [f.strip() for f in formats.split(",")]
    limit = None if real_samples == "all" else int(real_samples)
    if is_pretrained_source(source):  # a save-pretrained folder: named by its weights
        from zoo.weights import get_weights

        default_name = get_weights(source).name.replace(".", "-")
    elif is_weights_source(source):
        default_name = source.replace(".", "-")
    else:
        default_name = Path(source).stem.replace(".", "-")
    out = out or Path("exports") / default_name
    record = export(
        source,
        out,
        chosen,
        opset=opset,
        parts=parts or None,
        real_samples=limit,
        data_dir=data_dir,
        log=lambda m: click.echo(m, err=True),
        random_weights=random_weights,
        views=views,
    )
    if quantize:
        from .quantize import quantize_export

        record = quantize_export(
            out,
            data_dir=data_dir,
            log=lambda m: click.echo(m, err=True),
            allow_drop=allow_drop,
            parts=parts or None,
            method=calibration,
            samples=calibration_samples,
            keep_float=keep_float or None,
        )
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
    else:
        for line in _summary_lines(record):
            click.echo(line)
        click.echo(f"{'passed' if record['passed'] else 'PARITY FAILED'}: {out}/export.json")
    sys.exit(0 if record["passed"] else 1)


# --------------------------------------------------------------------------- zoo weights int8


@click.command(
    "int8", cls=ZooCommand, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.argument("names", nargs=-1, required=True)
@click.option("--record", is_flag=True, help="Write the figures to each card (the registry file that holds it).")
@click.option(
    "--check",
    "check_card",
    is_flag=True,
    help="Compare with the card's int8 accuracy; exit 1 when one is off by more than half a point.",
)
@click.option("--no-timing", is_flag=True, help="Measure accuracy only (no batch 1/64 latency).")
@click.option(
    "--subset",
    is_flag=True,
    help="Measure on the card's fixed, seeded 1,000-sample draw of the test split only (seconds; what CI checks). "
    "With --check: compared with the card's figures of that draw; with --record: adds them to the card.",
)
@click.option(
    "--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures (and the check) as JSON.")
def weights_int8_cmd(
    names: tuple[str, ...],
    record: bool,
    check_card: bool,
    no_timing: bool,
    subset: bool,
    data_dir: Path | None,
    as_json: bool,
) -> None:
    """Measure int8 for weights NAMES as `zoo-export NAME --quantize int8` makes it: accuracy on the whole test
    split beside fp32's and the ONNX Runtime speed-up at batch 1 and 64, on this machine.

    \b
    zoo weights int8 resnet.cifar10 --record    measure and write the figures to the card
    zoo weights int8 resnet.cifar10 --check     measure again, compare with the card
    zoo weights int8 resnet.cifar10 --check --subset --no-timing    the same on the card's 1,000-sample draw
    """
    from zoo.cli import int8_lines

    from .card import check, measure
    from .card import record as write

    results, failed = {}, []
    for name in names:
        entry = measure(
            name,
            data_dir,
            log=lambda m: click.echo(m, err=True),
            timing=not no_timing,
            subset=subset,
            with_subset=record and not subset,
        )
        result: dict = {"int8": entry}
        if check_card:
            result["check"] = check(name, entry)
            failed += [f"{name} {part}" for part, row in result["check"].items() if row["ok"] is False]
        if record:
            result["card_file"] = str(write(name, entry, subset_only=subset))
        results[name] = result
        if not as_json:
            click.echo(name)
            for line in int8_lines(entry):
                click.echo(line)
            for part, row in result.get("check", {}).items():
                status = {True: "ok", False: "FAIL", None: row.get("note")}[row["ok"]]
                click.echo(f"  check {part}: card {row['card']}  measured {row['measured']}  {status}")
            if record:
                click.echo(f"  recorded in {result['card_file']}")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    sys.exit(1 if failed else 0)
