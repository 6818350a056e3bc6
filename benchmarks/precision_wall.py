"""Wall time of the same short `zoo-train` run in fp32 and in bf16, side by side, on this CPU.

    python benchmarks/precision_wall.py                       # resnet18-cifar10, 40 steps, 2 pairs
    python benchmarks/precision_wall.py --recipe resnet-cifar10 --steps 20 --pairs 1

Each run is the whole command a user types (`zoo-train RECIPE --device cpu --max-steps N --set precision=P`),
data loading and the final evaluation included; fp32 and bf16 alternate so that a drifting machine hurts both
alike. Writes benchmarks/results/precision-wall-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from training.machine import machine_record  # noqa: E402
from training.precision import resolve_precision  # noqa: E402


def run(recipe: str, steps: int, precision: str, out: Path) -> dict:
    command = [
        str(Path(sys.executable).parent / "zoo-train"),
        recipe,
        "--device",
        "cpu",
        "--max-steps",
        str(steps),
        "--set",
        f"precision={precision}",
        "--out",
        str(out),
        "--quiet",
        "--json",
    ]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {"precision": summary["precision"], "wall_s": round(wall, 2), "engine_wall_s": summary["wall_time_s"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="resnet18-cifar10")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--pairs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "precision-wall-cpu.json")
    args = parser.parse_args()
    import torch

    auto, why = resolve_precision("auto", torch.device("cpu"))
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            for precision in ("fp32", "bf16"):
                runs.append(run(args.recipe, args.steps, precision, Path(tmp) / f"{precision}-{i}"))
                print(runs[-1], flush=True)
    wall = {p: statistics.median(r["wall_s"] for r in runs if r["precision"] == p) for p in ("fp32", "bf16")}
    result = {
        "machine": machine_record()["line"],
        "machine_record": machine_record(),
        "auto_precision": f"{auto} ({why})",
        "torch": torch.__version__,
        "command": f"zoo-train {args.recipe} --device cpu --max-steps {args.steps} --set precision=P",
        "runs": runs,
        "median_wall_s": wall,
        "bf16_speedup": round(wall["fp32"] / wall["bf16"], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(
        f"{result['command']} on {result['machine']} ({result['auto_precision']}): fp32 {wall['fp32']:.1f} s, "
        f"bf16 {wall['bf16']:.1f} s, {result['bf16_speedup']}x"
    )


if __name__ == "__main__":
    main()
