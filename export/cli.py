"""``zoo-export``: checkpoints or registry models → TorchScript / ONNX / torch.export, parity-checked."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from zoo.errors import ZooCommand

from training.checkpoint import is_weights_source

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


@click.command(cls=ZooCommand, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.argument("source", type=str)
@click.option("--format", "formats", default="all", show_default=True,
              help="torchscript, onnx, exported, or all (comma-separated list allowed).")
@click.option("--out", type=click.Path(path_type=Path), help="Output folder (default exports/<model>/).")
@click.option("--opset", type=click.IntRange(7, None), help="ONNX opset (default: the exporter's, 18 or newer); an older "
              "one uses the legacy exporter, and an opset nothing can write is an error.")
@click.option("--part", "parts", multiple=True, help="Export only these parts (e.g. generator).")
@click.option("--check", "check_only", is_flag=True,
              help="SOURCE is an export folder: re-verify hashes and parity against its recorded results.")
@click.option("--real-samples", default="256", show_default=True,
              help="Real test samples to check when the dataset is at hand (a number, or 'all').")
@click.option("--data-dir", type=click.Path(path_type=Path), help="Dataset folder (default $ZOO_DATA_DIR, else ./data).")
@click.option("--quantize", type=click.Choice(["int8"]), help="Also write an int8 ONNX model and report its accuracy.")
@click.option("--random-weights", is_flag=True,
              help="SOURCE is a model name: export it with fresh random weights (seeded), not trained ones.")
@click.option("--json", "as_json", is_flag=True, help="Print export.json (or the check report) as JSON.")
def main(source: str, formats: str, out: Path | None, opset: int | None, parts: tuple[str, ...], check_only: bool,
         real_samples: str, data_dir: Path | None, quantize: str | None, random_weights: bool, as_json: bool) -> None:
    """Export SOURCE (trained weights such as lenet.mnist, a model name for its default trained weights, a
    checkpoint or a run folder) and prove that TorchScript, onnxruntime and torch.export compute what PyTorch
    computes.

    \b
    zoo-export lenet.mnist                       trained weights from the registry (`zoo weights list`)
    zoo-export runs/mnist-cnn-mnist/<time>/checkpoints/best.pt --out exports/mnist-cnn
    zoo-export dcgan --random-weights --format onnx --part generator
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
                    click.echo(f"  {case:<10} " + "; ".join(f"{k} {'ok' if v['ok'] else 'FAIL'}" for k, v in results.items()))
            click.echo("check passed" if report["passed"] else "CHECK FAILED")
        sys.exit(0 if report["passed"] else 1)

    chosen = list(FORMATS) if formats == "all" else [f.strip() for f in formats.split(",")]
    limit = None if real_samples == "all" else int(real_samples)
    out = out or Path("exports") / (source.replace(".", "-") if is_weights_source(source) else Path(source).stem.replace(".", "-"))
    record = export(source, out, chosen, opset=opset, parts=parts or None, real_samples=limit, data_dir=data_dir,
                    log=lambda m: click.echo(m, err=True), random_weights=random_weights)
    if quantize:
        from .quantize import quantize_export

        record = quantize_export(out, data_dir=data_dir, log=lambda m: click.echo(m, err=True))
    if as_json:
        click.echo(json.dumps(record, indent=2, default=str))
    else:
        for line in _summary_lines(record):
            click.echo(line)
        click.echo(f"{'passed' if record['passed'] else 'PARITY FAILED'}: {out}/export.json")
    sys.exit(0 if record["passed"] else 1)
