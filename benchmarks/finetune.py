"""Your own photos, measured: fine-tuned from a shipped backbone vs from random weights, same budget.

Runs ``zoo-train finetune`` (the Python API of it, default settings) on each photo set, once from ``--from`` and once
from ``none``, and reports validation accuracy, macro-F1 and wall time including the folder's scan (a cold cache:
every photo decoded). Results in ``benchmarks/results/finetune-cpu.json`` (rows of other sets and starts kept).

    python benchmarks/finetune.py                                   # flowers and clothing-small, both starts
    python benchmarks/finetune.py --sets flowers --starts resnet18.cifar10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results" / "finetune-cpu.json"
SETS = {"flowers": "flowers/flowers.tar.gz", "clothing-small": "clothing-small/clothing-small.tar.gz"}


def markdown_table(results: dict) -> str:
    """The guide's table from a results file: both starts on each photo set, the machine named."""
    lines = [
        "| photos | from | train / val photos | val accuracy | macro-F1 | wall time |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in results["rows"]:
        start = "none (random weights)" if r["from"] == "none" else r["from"]
        accuracy = f"**{r['val_accuracy']:.3f}**" if r["from"] != "none" else f"{r['val_accuracy']:.3f}"
        lines.append(
            f"| {r['set']} | {start} | {r['train_photos']:,} / {r['val_photos']:,} | {accuracy} | "
            f"{r['macro_f1']:.3f} | {r['wall_s']:.0f} s |"
        )
    machine = results.get("machine") or {}
    lines += ["", f"Machine: {machine.get('cpu', 'not recorded')}, torch {machine.get('torch', '?')}."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="*", default=list(SETS), choices=list(SETS))
    parser.add_argument("--starts", nargs="*", default=["resnet18.cifar10", "none"])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("ZOO_DATA_DIR") or "../shared/datasets"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep-runs", type=Path, help="keep the run folders here (default: a temporary folder)")
    args = parser.parse_args()

    import torch

    from training.finetune import finetune
    from training.machine import machine_record

    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    done = {(s, f) for s in args.sets for f in args.starts}
    rows = [r for r in previous.get("rows", []) if (r["set"], r["from"]) not in done]
    runs = args.keep_runs or Path(tempfile.mkdtemp(prefix="finetune-bench-"))
    print(
        f"{'set':<15} {'from':<18} {'size':>4} {'epochs':>6} {'val acc':>8} {'best':>7} {'macro-F1':>8} {'wall s':>7}"
    )
    for name in args.sets:
        for start in args.starts:
            cache = Path(tempfile.mkdtemp(prefix="finetune-cache-"))
            os.environ["ZOO_CACHE_DIR"] = str(cache)  # a cold cache: the scan decodes every photo, as a first run does
            out = runs / f"{name}-{start.replace('.', '-')}"
            t0 = time.perf_counter()
            result = finetune(start, args.data_dir / SETS[name], out=out, seed=args.seed, quiet=True, overwrite=True)
            wall = time.perf_counter() - t0
            shutil.rmtree(cache, ignore_errors=True)
            config = json.loads((out / "config.json").read_text())
            row = {
                "set": name,
                "from": start,
                "size": config["base"]["size"],
                "epochs": result["epochs"],
                "profile": result["profile"],
                "val_accuracy": round(result["test_accuracy"], 4),
                "best_val_accuracy": round(result["best_test_accuracy"], 4),
                "macro_f1": round(result["macro_f1"], 4),
                "wall_s": round(wall, 1),
                "train_s": result["wall_time_s"],
                "precision": result["precision"],
            }
            photos = json.loads((out / "photos.json").read_text())
            row["train_photos"], row["val_photos"] = sum(photos["train_counts"]), sum(photos["val_counts"])
            rows.append(row)
            print(
                f"{name:<15} {start:<18} {row['size']:>4} {row['epochs']:>6} {row['val_accuracy']:>8.4f} "
                f"{row['best_val_accuracy']:>7.4f} {row['macro_f1']:>8.4f} {row['wall_s']:>7.1f}",
                flush=True,
            )
    result_file = {
        "machine": {
            **machine_record(),
            "cores": os.cpu_count(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "note": "zoo-train finetune with default settings (the finetune recipe's default profile from a card, its "
        "scratch profile from none: the same epochs); validation accuracy of the last epoch and the best; wall "
        "time includes scanning and decoding the folder with an empty cache",
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result_file, indent=2))
    print(f"wrote {args.out}; runs in {runs}")


if __name__ == "__main__":
    main()
