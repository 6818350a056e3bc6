"""Every recipe, measured: train each one under its default profile on real data and report its metric.

For each recipe this evaluates the untrained model, trains (the whole default profile, or the stated
CPU budget where the whole recipe takes longer than about ten minutes on a 2-core CPU), evaluates
again and says whether the run clearly learned (``training.steps.learned``: a "max" metric covers a
quarter of the way from the untrained value to the best possible one; a "min" metric at least halves).
Prints a table and writes ``benchmarks/results/recipes-<device>.json`` after every recipe, so an
interrupted run continues where it stopped (``--resume``).

    python benchmarks/recipes.py                             # all recipes, CPU budgets (~30 min on 2 cores)
    python benchmarks/recipes.py --only simple-cnn-cifar10   # one recipe (repeatable)
    python benchmarks/recipes.py --full                      # no budgets: every recipe's whole profile
    python benchmarks/recipes.py --device cuda --full        # on a GPU
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from training.data import default_data_dir
from training.data.sources import DATASETS
from training.engine import TrainConfig, Trainer
from training.machine import machine_record, resolve_device
from training.recipes import get_recipe, list_recipes
from training.steps import get_step, learned

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Budget:
    """What the CPU run does instead of the whole profile, and why."""

    overrides: dict[str, Any] = field(default_factory=dict)  # profile fields (epochs, ...)
    max_steps: int | None = None
    eval_samples: int | None = None  # a fixed random subset of the test split
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    why: str = ""


#: Recipes whose whole default profile takes much longer than ~10 minutes on the 2-core CPU, or needs
#: what this machine cannot fetch. Everything else runs its whole default profile.
CPU_BUDGETS: dict[str, Budget] = {
    "resnet-cifar10": Budget(
        max_steps=2000,
        eval_samples=2000,
        why="10 epochs take ~52 min on 2 cores: first 2,000 steps (64,000 images); 2,000 random test images",
    ),
    "resnet18-cifar10": Budget(
        overrides={"epochs": 1},
        max_steps=200,
        eval_samples=2000,
        why="~43 images/s on 2 cores (30 epochs: ~10 h): one-cycle over 1 epoch, first 200 "
        "steps (25,600 images); 2,000 random test images",
    ),
    "inception-cifar10": Budget(
        max_steps=400,
        eval_samples=2000,
        why="~22 images/s on 2 cores: first 400 steps (12,800 images); 2,000 random test images",
    ),
    "vgg16-cifar10": Budget(
        max_steps=400,
        eval_samples=2000,
        why="~23 images/s on 2 cores: first 400 steps (12,800 images); 2,000 random test images",
    ),
    "alexnet-cifar10": Budget(
        max_steps=300,
        eval_samples=2000,
        why="224x224 inputs, ~25 images/s on 2 cores: first 300 steps (9,600 images); 2,000 random test images",
    ),
    "transfer-cats-dogs": Budget(
        max_steps=100,
        eval_samples=1000,
        model_kwargs={"backbone_weights": None},
        why="no ImageNet weights offline (random frozen backbone); 100 steps, 1,000 test images",
    ),
    "dcgan-mnist": Budget(
        max_steps=800, why="5 epochs (2,345 steps) take ~11 min on 2 cores: first 800 steps (1.7 epochs)"
    ),
    "mnist-cnn-bn-mnist": Budget(overrides={"epochs": 1}, why="5 epochs take ~15 min on 2 cores: 1 epoch"),
}
#: Extra rows: (recipe, profile, budget). The CIFAR fast profile on its cheapest model, on the CPU, and
#: the borrowed profile a default replaced.
EXTRA_ROWS: list[tuple[str, str, Budget]] = [
    (
        "simple-cnn-cifar10",
        "fast",
        Budget(
            overrides={"epochs": 2},
            why="fast profile on the CPU (fp32: bf16 autocast is CUDA-only), one-cycle over 2 epochs",
        ),
    ),
    # the profile the default replaced, under the same budget: why the default departs from it
    ("inception-cifar10", "resnet-seed", CPU_BUDGETS["inception-cifar10"]),
]


def _metric_row(
    recipe: str, profile: str, summary: dict[str, Any], budget: Budget | None, wall: float, label: str | None = None
) -> dict[str, Any]:
    rec = get_recipe(recipe)
    headline = get_step(rec.step).headline
    initial = summary.get("initial", {})
    ok, how = learned(headline, initial, summary)
    return {
        "recipe": recipe + (f" [{label}]" if label else ""),
        "profile": profile,
        "model": rec.model,
        "dataset": summary.get("dataset"),
        "metric": headline[0],
        "mode": headline[1],
        "initial": initial.get(headline[0]),
        "final": summary.get(headline[0]),
        "learned": ok,
        "judgement": how,
        "target": rec.target,
        "epochs": summary.get("epoch"),
        "steps": summary.get("global_step"),
        "eval_samples": budget.eval_samples if budget else None,
        "budget": budget.why if budget else "whole profile",
        "train_wall_s": summary.get("wall_time_s"),
        "wall_s": round(wall, 1),
        "other": {
            k: v
            for k, v in summary.items()
            if k.startswith(("test_", "train_", "best_")) and isinstance(v, (int, float)) and k != headline[0]
        },
    }


def run_recipe(
    recipe: str, profile: str | None, budget: Budget | None, device: str, data_dir: Path, out_root: Path
) -> list[dict[str, Any]]:
    rec = get_recipe(recipe)
    profile = profile or rec.default
    b = budget or Budget()
    cfg = TrainConfig(
        recipe=recipe,
        profile=profile,
        overrides=dict(b.overrides),
        model_kwargs=dict(b.model_kwargs),
        data_dir=data_dir,
        device=device,
        out=out_root / f"{recipe}-{profile}",
        seed=0,
        max_steps=b.max_steps,
        eval_samples=b.eval_samples,
        eval_first=True,
        quiet=True,
    )
    start = time.perf_counter()
    if rec.variants:
        from training.sweep import run_many

        result = run_many(cfg, [dict(v) for v in rec.variants], cfg.out, log=lambda m: None)  # type: ignore[arg-type]
        wall = time.perf_counter() - start
        return [_metric_row(recipe, profile, run, budget, wall, label=run["label"]) for run in result["runs"]]
    summary = Trainer(cfg, log=lambda m: None).fit()
    return [_metric_row(recipe, profile, summary, budget, time.perf_counter() - start)]


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1000 else f"{v:.0f}"
    return str(v)


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"\n{'recipe':<40} {'profile':<11} {'metric':<18} {'untrained':>10} {'trained':>10} {'learned':>7} "
        f"{'steps':>7} {'wall s':>7}  budget"
    )
    for r in rows:
        if "error" in r:
            print(f"{r['recipe']:<40} {r['profile']:<11} ERROR: {r['error']}")
            continue
        print(
            f"{r['recipe']:<40} {r['profile']:<11} {r['metric']:<18} {_fmt(r['initial']):>10} {_fmt(r['final']):>10} "
            f"{'yes' if r['learned'] else 'NO':>7} {_fmt(r['steps']):>7} {r['wall_s']:>7.0f}  {r['budget']}"
        )


#: What each dataset's headline metric is measured on (the test split the engine evaluates).
EVALUATED_ON = {
    name: info["evaluated_on"] + (", 10,000" if name in ("mnist", "fashion-mnist", "cifar10") else "")
    for name, info in DATASETS.items()
}


def _epochs(value: Any) -> str:
    return f"{value:.2f}" if isinstance(value, float) and not value.is_integer() else str(int(value))


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """README's table from the results rows."""
    lines = [
        "| recipe | profile | metric (evaluated on) | untrained → trained | learned | epochs / steps | wall s | budget |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            lines.append(f"| `{r['recipe']}` | {r['profile']} | error: {r['error'][:80]} | | | | | |")
            continue
        on = EVALUATED_ON.get(r.get("dataset") or "none", "generated test split")
        if r.get("eval_samples"):
            on = f"{r['eval_samples']:,} random of {on.split(',')[0]}"
        lines.append(
            f"| `{r['recipe']}` | {r['profile']} | {r['metric']} ({on}) | {_fmt(r['initial'])} → "
            f"**{_fmt(r['final'])}** | {'yes' if r['learned'] else 'no'} | {_epochs(r['epochs'])} / {r['steps']:,} | "
            f"{r['wall_s']:.0f} | {r['budget']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--only", action="append", help="run only this recipe, or NAME:PROFILE for one of its rows (repeatable)"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", type=Path, default=None, help="datasets (default $ZOO_DATA_DIR, else ./data)")
    parser.add_argument("--full", action="store_true", help="ignore the CPU budgets: every recipe's whole profile")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows already in the results file and run the rest (with --only: rerun those)",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs/recipes"), help="where the run folders go")
    parser.add_argument(
        "--out", type=Path, default=None, help="results JSON (default benchmarks/results/recipes-<device>.json)"
    )
    parser.add_argument("--markdown", action="store_true", help="print the results file as README's table and exit")
    args = parser.parse_args()
    device = resolve_device(args.device)
    out = args.out or RESULTS / f"recipes-{device.type}.json"
    if args.markdown:
        print(markdown_table(json.loads(out.read_text())["rows"]))
        return
    data_dir = args.data_dir or default_data_dir()
    order = [
        "mnist-cnn-bn-mnist",
        "dcgan-mnist",
        "transfer-cats-dogs",
        "resnet-cifar10",
        "resnet18-cifar10",
        "inception-cifar10",
        "alexnet-cifar10",
        "vgg16-cifar10",
    ]  # cheapest budgets first
    names = sorted(list_recipes(), key=lambda n: (n in CPU_BUDGETS, order.index(n) if n in order else 0))
    plan: list[tuple[str, str | None, Budget | None]] = [
        (name, None, None if args.full else CPU_BUDGETS.get(name)) for name in names
    ]
    plan += [(name, profile, None if args.full else budget) for name, profile, budget in EXTRA_ROWS]
    keys = [(name, profile or get_recipe(name).default) for name, profile, _ in plan]
    if args.only and not any(name in args.only or f"{name}:{profile}" in args.only for name, profile in keys):
        raise SystemExit(f"no recipe among {args.only}; see `zoo-train --list`")
    done: dict[tuple[str, str], list[dict[str, Any]]] = {}
    if args.resume and out.is_file():
        for row in json.loads(out.read_text())["rows"]:
            if "error" in row:  # a failed recipe runs again
                continue
            done.setdefault((row["recipe"].split(" [")[0], row["profile"]), []).append(row)
    machine = {
        **machine_record(str(device)),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "device": str(device),
    }

    def save() -> None:  # every row known so far, in plan order: an interrupted run loses nothing
        RESULTS.mkdir(parents=True, exist_ok=True)
        known = [row for key in keys for row in done.get(key, [])]
        out.write_text(
            json.dumps({"machine": machine, "data_dir": str(data_dir), "rows": known}, indent=2, default=str)
        )

    for (name, profile, budget), key in zip(plan, keys):
        chosen = not args.only or name in args.only or f"{name}:{key[1]}" in args.only
        if not chosen or (key in done and not args.only):  # --resume keeps earlier rows; --only reruns its recipes
            continue
        print(f"--- {name} [{key[1]}] {budget.why if budget else 'whole profile'}", flush=True)
        try:
            done[key] = run_recipe(name, profile, budget, str(device), data_dir, args.runs)
        except Exception as e:  # one broken recipe must not hide the others' results
            done[key] = [{"recipe": name, "profile": key[1], "error": f"{type(e).__name__}: {e}"}]
        print_table(done[key])
        save()
    rows = [row for key in keys for row in done.get(key, [])]
    print_table(rows)
    print(f"\nwrote {out}")
    failed = [r["recipe"] for r in rows if not r.get("learned")]
    if failed:
        print(f"not learned or failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
