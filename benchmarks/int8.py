"""int8 vs fp32 for the CNNs with trained weights: which calibration, how many samples, which layers kept
in float (accuracy on the whole test split), and what int8 pays in ONNX Runtime latency at batch 1 and 64.

    python benchmarks/int8.py                               # every shipped CNN, the whole grid
    python benchmarks/int8.py --only mnist-cnn.mnist --grid default

Each weights is exported to ONNX once; each grid point is one ``export.quantize.quantize_export`` (the
code ``zoo-export --quantize int8`` runs), with drops allowed so that every point is measured. Needs the
datasets (``ZOO_DATA_DIR``). Writes ``benchmarks/results/int8-cpu.json``; the chosen plans go to
``export.quantize.PLANS``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "int8-cpu.json"
#: The CNN families with shipped weights (int8 applies to their convolutions).
DEFAULT = [
    "lenet.mnist",
    "mnist-cnn.mnist",
    "fashion-net.fashion-mnist",
    "simple-cnn.cifar10",
    "resnet.cifar10",
    "resnet18.cifar10",
    "inception.cifar10",
]
GRIDS = {
    "full": [dict(method=m, samples=256, keep_float=()) for m in ("minmax", "entropy", "percentile")]
    + [dict(method="minmax", samples=n, keep_float=()) for n in (32, 1024)]
    + [dict(method="minmax", samples=256, keep_float=("first", "last"))],
    "default": [dict(method=None, samples=None, keep_float=None)],
}


def steal_share(seconds: float = 2.0) -> float:
    """The share of CPU time the hypervisor gave to others over ``seconds`` (``steal`` in /proc/stat)."""

    def read() -> list[int]:
        return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]

    try:
        a = read()
        time.sleep(seconds)
        b = read()
    except OSError:
        return float("nan")
    diff = [y - x for x, y in zip(a, b)]
    return round(diff[7] / max(sum(diff), 1), 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="weights names (default: every shipped CNN)")
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    warnings.simplefilter("ignore")

    import torch

    import zoo
    from export.core import export
    from export.quantize import quantize_export
    from training.machine import machine_record

    names = [n for n in (args.only or DEFAULT) if zoo.get_weights(n).built]
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    rows = [r for r in previous.get("rows", []) if r["weights"] not in names]
    print(
        f"{'weights':<26} {'method':<11} {'n':>5} {'float':<11} {'fp32':>7} {'int8':>7} {'drop':>6} "
        f"{'b1 x':>6} {'b64 fp32':>9} {'b64 int8':>9} {'b64 x':>6}"
    )
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            base = Path(tmp) / "export"
            export(name, base, formats=["onnx"], log=lambda m: None, real_samples=64)
            for point in GRIDS[args.grid]:
                t0 = time.perf_counter()
                record = quantize_export(base, data_dir=args.data_dir, log=lambda m: None, allow_drop=True, **point)
                q = record["parts"]["model"]["quantized"]
                qual, lat = q["quality"], q["latency_ms"]
                row = {
                    "weights": name,
                    "plan": q["plan"],
                    "method": q["method"],
                    "fp32_accuracy": qual["fp32_accuracy"],
                    "int8_accuracy": qual["int8_accuracy"],
                    "drop": qual["drop"],
                    "samples": qual["samples"],
                    "latency_ms": lat,
                    "size_bytes": q["size_bytes"],
                    "seconds": round(time.perf_counter() - t0, 1),
                    "steal": steal_share(1.0),
                }
                rows.append(row)
                plan = q["plan"]
                print(
                    f"{name:<26} {plan['method']:<11} {plan['samples']:>5} {'+'.join(plan['keep_float']) or '-':<11} "
                    f"{row['fp32_accuracy']:>7.4f} {row['int8_accuracy']:>7.4f} {row['drop'] * 100:>6.2f} "
                    f"{lat['batch1']['speedup']:>6.2f} {lat['batch64']['fp32_ms']:>9.2f} {lat['batch64']['int8_ms']:>9.2f} "
                    f"{lat['batch64']['speedup']:>6.2f}",
                    flush=True,
                )
    result = {
        "machine": {
            **machine_record(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "onnxruntime": __import__("onnxruntime").__version__,
            "python": platform.python_version(),
        },
        "note": "latency: ONNX Runtime CPU provider, 2 intra-op threads, median of up to 20 calls; accuracy on "
        "the whole test split; steal: share of CPU time the VM's host took meanwhile",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
