"""How fast trained weights reach a user: ``get_model(name, weights=...)`` cold and warm, and a fresh clone's
``zoo-serve start mnist-cnn`` / ``make demo`` to the first answer.

    python benchmarks/weights_speed.py                    # every shipped weights + the fresh-clone timings
    python benchmarks/weights_speed.py --only lenet.mnist --no-clone

cold: a new Python process (``import zoo`` timed apart), the first ``get_model`` call: the file's sha256,
safetensors read, model built. warm: the same call again in that process (median of 5; the hash is
remembered per file). Writes ``benchmarks/results/weights-cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "weights-cpu.json"

PROBE = r"""
import json, statistics, sys, time
t0 = time.perf_counter()
import zoo
t1 = time.perf_counter()
model, name = sys.argv[1], sys.argv[2]
zoo.get_model(model, weights=name)
t2 = time.perf_counter()
warm = []
for _ in range(5):
    s = time.perf_counter()
    zoo.get_model(model, weights=name)
    warm.append(time.perf_counter() - s)
print(json.dumps({"import_s": t1 - t0, "cold_s": t2 - t1, "warm_s": statistics.median(warm)}))
"""


def machine() -> dict:
    import torch

    from training.machine import machine_record

    return {
        **machine_record(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }


def load_times(names: list[str]) -> list[dict]:
    import zoo

    rows = []
    for name in names:
        w = zoo.get_weights(name)
        out = subprocess.run(
            [sys.executable, "-c", PROBE, w.model, name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        row = {
            "weights": name,
            "bytes": w.card["file"]["size"],
            "dtype": w.card["file"]["dtype"],
            "parameters": w.card["file"]["parameters"],
            **{k: round(v * 1000, 2) for k, v in r.items()},
        }
        rows.append(row)
        print(
            f"{name:<28} {row['bytes'] / 1e6:>7.2f} MB  import {row['import_s']:>7.1f} ms  cold {row['cold_s']:>7.1f} ms  "
            f"warm {row['warm_s']:>7.2f} ms",
            flush=True,
        )
    return rows


def fresh_clone_timings() -> dict:
    """A fresh clone, the installed environment: `zoo-serve start mnist-cnn` until it answers one request, and
    `zoo-serve demo` (what `make demo` runs once installed), each timed as a whole command."""
    from serving.server import free_port

    result: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "PYTHONPATH": str(clone), "PYTHONWARNINGS": "ignore"}
        env.pop("ZOO_DATA_DIR", None)
        bin_dir = Path(sys.executable).parent
        ports = [str(free_port()) for _ in range(3)]
        digit = Path(tmp) / "digit.png"
        from PIL import Image

        Image.new("L", (28, 28)).save(digit)
        t0 = time.perf_counter()
        subprocess.run(
            [
                str(bin_dir / "zoo-serve"),
                "start",
                "mnist-cnn",
                "--port",
                ports[0],
                "--management-port",
                ports[1],
                "--metrics-port",
                ports[2],
            ],
            cwd=clone,
            env=env,
            check=True,
            capture_output=True,
        )
        answer = subprocess.run(
            [str(bin_dir / "zoo-serve"), "predict", "mnist-cnn", str(digit)],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
        result["serve_start_to_first_answer_s"] = round(time.perf_counter() - t0, 1)
        result["first_answer"] = answer.stdout.strip()[:200]
        subprocess.run([str(bin_dir / "zoo-serve"), "stop"], cwd=clone, env=env, capture_output=True)
        t0 = time.perf_counter()
        demo = subprocess.run(
            [str(bin_dir / "zoo-serve"), "demo", "--port", str(free_port())],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
        )
        result["demo_s"] = round(time.perf_counter() - t0, 1)
        result["demo_summary"] = next((ln.strip() for ln in demo.stdout.splitlines() if "requests: accuracy" in ln), "")
        shutil.rmtree(clone / "runs", ignore_errors=True)
    print(json.dumps(result, indent=1))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="These weights only.")
    parser.add_argument("--no-clone", action="store_true", help="Skip the fresh-clone timings.")
    args = parser.parse_args()
    import zoo

    names = args.only or [n for n in zoo.list_weights() if zoo.get_weights(n).shipped]
    record = {"machine": machine(), "load": load_times(names)}
    if not args.no_clone:
        record["fresh_clone"] = fresh_clone_timings()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
