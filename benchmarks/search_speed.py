"""What Optuna costs and what a second worker buys: ``zoo-train --search`` against plain runs.

    python benchmarks/search_speed.py                  # regression-quadratic, 12 trials (under a second each)
    python benchmarks/search_speed.py --recipe mnist-cnn-mnist --dataset digits --epochs 3   # seconds each

1. Overhead per trial: the same learning rates run as plain ``zoo-train`` runs one after another in one process
   (the old grid loop) and as an Optuna grid study (``--sweep``, SQLite in the run folder); the difference over
   the number of runs is what the study adds (storage writes, reports, files).
2. Workers: one study of N trials (random sampler, no pruning) run by one process, then by two processes sharing a
   journal file (``--storage journal:PATH``), each with one torch thread, on this machine's 2 cores.

Writes ``benchmarks/results/search-cpu-RECIPE.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def zoo_train(*args: str) -> list[str]:
    return [sys.executable, "-m", "training.cli", *args]


def timed(commands: list[list[str]], threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "PYTHONWARNINGS": "ignore"}
    t0 = time.perf_counter()
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env) for c in commands
    ]
    for p in procs:
        _, err = p.communicate()
        if p.returncode != 0:
            raise SystemExit(f"{' '.join(p.args)} failed:\n{err[-2000:]}")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="regression-quadratic")
    parser.add_argument("--epochs", default="40")
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--dataset", help="another dataset of the recipe (e.g. digits, built in)")
    args = parser.parse_args()
    base = [args.recipe, "--epochs", args.epochs, "--device", "cpu", "--quiet"] + (
        ["--dataset", args.dataset] if args.dataset else []
    )
    lrs = [f"{0.5 / 2**i:.6g}" for i in range(args.trials)]
    from training.machine import machine_record

    result: dict = {
        "machine": machine_record(),
        "recipe": args.recipe,
        "dataset": args.dataset,
        "epochs": int(args.epochs),
        "trials": args.trials,
        "cores": os.cpu_count(),
    }
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # the plain loop: one process, the runs one after another (as the sweep loop ran them)
        script = (
            "import sys\nfrom training.engine import TrainConfig, Trainer\n"
            f"for lr in {lrs!r}:\n"
            f"    Trainer(TrainConfig(recipe={args.recipe!r}, overrides={{'epochs': {int(args.epochs)}, 'lr': float(lr)}},"
            f" dataset={args.dataset!r}, device='cpu', out=sys.argv[1] + '/' + lr, quiet=True), log=lambda m: None).fit()\n"
        )
        plain = timed([[sys.executable, "-c", script, str(tmp / "plain")]], threads=2)
        study = timed([zoo_train(*base, "--sweep", "lr=" + ",".join(lrs), "--out", str(tmp / "grid"))], threads=2)
        result["plain_runs_s"] = round(plain, 2)
        result["optuna_grid_s"] = round(study, 2)
        result["overhead_per_trial_s"] = round((study - plain) / args.trials, 3)
        print(
            f"{args.trials} runs: plain loop {plain:.1f} s, Optuna grid study {study:.1f} s "
            f"-> {result['overhead_per_trial_s'] * 1000:.0f} ms per trial",
            flush=True,
        )
        search = [
            "--search",
            "lr=log:1e-4:0.5",
            "--sampler",
            "random",
            "--pruner",
            "none",
            "--trials",
            str(args.trials),
        ]
        one = timed(
            [zoo_train(*base, *search, "--storage", f"journal:{tmp / 'one.journal'}", "--out", str(tmp / "one"))],
            threads=1,
        )
        two = timed(
            [
                zoo_train(
                    *base,
                    *search,
                    "--storage",
                    f"journal:{tmp / 'two.journal'}",
                    "--seed",
                    str(seed),
                    "--out",
                    str(tmp / f"two-{seed}"),
                )
                for seed in (1, 2)
            ],
            threads=1,
        )
        result.update(one_worker_s=round(one, 2), two_workers_s=round(two, 2), speedup=round(one / two, 2))
        print(
            f"{args.trials} trials, 1 thread each: one worker {one:.1f} s, two workers {two:.1f} s ({one / two:.2f}x)",
            flush=True,
        )
    out = RESULTS / f"search-cpu-{args.recipe}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
