"""Time to accuracy on CIFAR-10: `zoo-train speednet-cifar10`, measured whole, and each trick switched off alone.

    python benchmarks/speednet.py                          # the default recipe, seed 0
    python benchmarks/speednet.py --seeds 0 1 2            # the mean of three seeds
    python benchmarks/speednet.py --ablate lookahead tta   # also: the recipe with each named trick off (seed 0)
    python benchmarks/speednet.py --epochs 8               # a shorter schedule (time to a lower accuracy)
    python benchmarks/speednet.py --take runs/speednet-s0  # record a finished default run (its own timing)
    python benchmarks/speednet.py --markdown               # print the results file as the guide's table
    python benchmarks/speednet.py --recipe resnet-cifar10 --profiles cpu-plain cpu   # the tricks carried over
    python benchmarks/speednet.py --views resnet18.cifar10 resnet.cifar10   # what test-time views buy trained weights

Each row is the whole command a user types (data loading and the final evaluation included) timed from outside,
with the run's FLOPs (per image, counted by torch's FlopCounterMode on a training step, times images seen), the
FLOPS it achieved and the machine's own bf16 matrix-multiply rate measured just before. Rows of other settings
already in the results file are kept. Writes benchmarks/results/speednet-cpu.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from zoo.views import VIEWS  # how many views each test-time augmentation level averages

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "speednet-cpu.json"
SPEED_RECIPE = "speednet-cifar10"
#: The tricks a row can switch off, and the profile override that does it.
TRICKS: dict[str, dict[str, Any]] = {
    "whiten": {"whiten": False},
    "dirac": {"dirac": False},
    "bias_scale": {"bias_scale": 1.0},
    "lookahead": {"lookahead": False},
    "alternate_flip": {"alternate_flip": False},
    "tta": {"tta": 0},
    "label_smoothing": {},
}
#: The profile a carried recipe's rows are compared with: the recipe without the tricks.
PLAIN = "cpu-plain"


def bf16_matmul_gflops(device: str = "cpu", seconds: float = 3.0) -> float:
    """The device's bf16 matrix-multiply rate (all threads on a CPU), the roofline a run is held to."""
    import torch

    size = 2048 if device == "cpu" else 8192
    a = torch.randn(size, size, dtype=torch.bfloat16, device=device)
    b = torch.randn(size, size, dtype=torch.bfloat16, device=device)
    a @ b
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    sync()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        a @ b
        n += 1
        sync()
    return 2 * size**3 * n / (time.perf_counter() - start) / 1e9


def train_flops_per_image(model_name: str = "speednet", batch: int = 64) -> float:
    """FLOPs of one training step (forward and backward) of a CIFAR-10 model per image, counted by torch."""
    import torch
    import torch.nn.functional as F
    from torch.utils.flop_counter import FlopCounterMode

    import zoo

    model = zoo.get_model(model_name)
    x, y = torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(model(x), y).backward()
    return counter.get_total_flops() / batch


def run(
    seed: int,
    label: str,
    extra: dict[str, Any],
    epochs: int | None,
    out: Path,
    recipe: str = SPEED_RECIPE,
    profile_name: str = "default",
    device: str = "cpu",
) -> dict[str, Any]:
    from training.recipes import get_recipe

    profile = get_recipe(recipe).profile(profile_name)
    command = [str(Path(sys.executable).parent / "zoo-train"), recipe, "--profile", profile_name, "--seed", str(seed)]
    command += ["--device", device, "--out", str(out), "--overwrite", "--quiet", "--json"]
    if epochs:
        command += ["--epochs", str(epochs)]
    if label == "label_smoothing":
        command += ["--set", "label_smoothing=0"]
    for key, value in extra.items():
        command += ["--set", f"extra.{key}={json.dumps(value)}"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"label": label, "seed": seed, "error": (done.stderr or done.stdout)[-400:]}
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        **({} if recipe == SPEED_RECIPE else {"recipe": recipe, "profile": profile_name}),
        "label": label,
        "seed": seed,
        "epochs": summary["epochs"],
        "test_accuracy": round(summary["test_accuracy"], 4),
        "single_view": round(summary.get("test_accuracy_single_view", summary["test_accuracy"]), 4),
        "tta": int(extra.get("tta", profile.extra.get("tta", 0))),
        "wall_s": round(wall, 1),
        "train_s": summary["wall_time_s"],
        "precision": summary["precision"],
        # where the time went: the last epoch's training rate and the final evaluation (TTA included)
        "samples_per_s": summary.get("samples_per_s"),
        "eval_s": summary.get("eval_s"),
    }


def time_line(row: dict[str, Any], train_images: int = 50_000) -> str:
    """Where one run's wall time went: process start and data, training epochs, the final evaluation, the rest."""
    training = row["epochs"] * train_images / row["samples_per_s"]
    startup = row["wall_s"] - row["train_s"]
    rest = row["train_s"] - training - row["eval_s"]
    return (
        f"{row['epochs']}-epoch run (seed {row['seed']}): {row['wall_s'] / 60:.1f} min = start and data "
        f"{startup:.0f} s + training {training:.0f} s ({row['samples_per_s']:.0f} images/s) + final evaluation "
        f"{row['eval_s']:.0f} s (TTA) + the rest {rest:.0f} s (whitening fit, first evaluation, checkpoints)."
    )


def taken(run: Path) -> dict[str, Any]:
    """A row from a finished default run's folder: its metrics and the engine's own wall time (the command's is not
    known: process start and data loading, some 20-30 s here, are left out and the row says so)."""
    summary = json.loads((run / "metrics.json").read_text())
    config = json.loads((run / "config.json").read_text())
    if config["recipe"] != "speednet-cifar10" or config.get("max_steps") or config.get("holdout"):
        raise SystemExit(f"{run} is not a whole speednet-cifar10 run")
    return {
        "label": "default",
        "seed": int(config["seed"]),
        "epochs": summary["epochs"],
        "test_accuracy": round(summary["test_accuracy"], 4),
        "single_view": round(summary.get("test_accuracy_single_view", summary["test_accuracy"]), 4),
        "tta": int(config["hyperparameters"]["extra"].get("tta", 0)),
        "wall_s": None,
        "train_s": summary["wall_time_s"],
        "precision": summary["precision"],
        "taken_from": str(run),
    }


def markdown_table(results: dict[str, Any]) -> str:
    """The guide's table: every setting, the mean over its seeds, and what each trick bought."""
    rows = [r for r in results["rows"] if "error" not in r and r.get("recipe", SPEED_RECIPE) == SPEED_RECIPE]
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["label"], r["epochs"]), []).append(r)
    base = groups.get(("default", 10))
    base_acc = statistics.mean(r["test_accuracy"] for r in base) if base else None
    lines = [
        "| setting | epochs | seeds | test accuracy (TTA views) | single view | wall (command) | vs default |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (label, epochs), group in sorted(groups.items(), key=lambda kv: (kv[0][0] != "default", kv[0])):
        acc = statistics.mean(r["test_accuracy"] for r in group)
        single = statistics.mean(r["single_view"] for r in group)
        walls = [r["wall_s"] if r["wall_s"] is not None else r["train_s"] for r in group]
        wall = statistics.mean(walls)
        marked = "" if all(r["wall_s"] is not None for r in group) else " *"
        shown = "- †" if any(r.get("note") for r in group) else f"{wall / 60:.1f} min{marked}"
        views = VIEWS[group[0]["tta"]]
        delta = f"{100 * (acc - base_acc):+.2f} points" if base_acc is not None and label != "default" else ""
        name = "default" if label == "default" else f"without {label}"
        lines.append(
            f"| {name} | {epochs} | {len(group)} | **{acc:.4f}** ({views}) | {single:.4f} | {shown} | {delta} |"
        )
    if base and base_acc is not None and ("tta", 10) not in groups:  # TTA off costs no run: the defaults' one view
        single = statistics.mean(r["single_view"] for r in base)
        lines.append(
            f"| without tta (the default runs, one view) | 10 | {len(base)} | **{single:.4f}** (1) | {single:.4f} | "
            f"- | {100 * (single - base_acc):+.2f} points |"
        )
    if base and len(base) > 1 and len(groups) > 1:
        accs = [r["test_accuracy"] for r in base]
        lines += [
            "",
            f"A row without a trick is one run (seed 0); the default's {len(base)} seeds spread over "
            f"{100 * (max(accs) - min(accs)):.2f} points ({min(accs):.4f} to {max(accs):.4f}), so a difference "
            "smaller than that is within the noise.",
        ]
    if any(r["wall_s"] is None for r in rows):
        lines += ["", "\\* includes runs timed by the engine itself (training and evaluation, without process start)."]
    notes = sorted({r["note"] for r in rows if r.get("note")})
    lines += ["", *(f"† {note}" for note in notes)] if notes else []
    m = results.get("machine") or {}
    flops = results.get("train_flops_per_image")
    lines += [
        "",
        f"Machine: {m.get('line', m.get('cpu', 'not recorded'))}; bf16 matmul {results.get('bf16_gflops', 0):.0f} GFLOPS.",
    ]
    defaults = [r for r in rows if r["label"] == "default"]
    for goal in (0.93, 0.94):
        reached = sorted((r for r in defaults if r["test_accuracy"] >= goal and r["wall_s"]), key=lambda r: r["wall_s"])
        best = max(defaults, key=lambda r: r["test_accuracy"], default=None)
        if reached:
            r = reached[0]
            lines.append(f"Time to {goal}: {r['wall_s'] / 60:.1f} min ({r['epochs']} epochs, seed {r['seed']}).")
        elif best is not None:
            lines.append(
                f"Time to {goal}: not reached (the best run: {best['test_accuracy']:.4f} in {best['epochs']} epochs)."
            )
    timed = [r for r in defaults if r.get("eval_s") and r.get("wall_s")]
    if timed:
        lines.append("Where the time goes: " + " ".join(time_line(r) for r in timed))
    if flops and base:
        run_flops = flops * 50_000 * 10
        train_s = statistics.mean(r["train_s"] for r in base)
        lines.append(
            f"A 10-epoch run: {run_flops:.2e} FLOPs ({flops / 1e9:.2f} GFLOP per training image), "
            f"{run_flops / train_s / 1e9:.0f} GFLOPS achieved over its {train_s / 60:.1f} training minutes."
        )
    return "\n".join(lines)


def carried_table(results: dict[str, Any]) -> str:
    """The guide's table of other recipes' profiles timed the same way (the tricks carried over, against without)."""
    rows = [r for r in results["rows"] if "error" not in r and r.get("recipe", SPEED_RECIPE) != SPEED_RECIPE]
    lines = [
        "| recipe | profile | epochs | seed | test accuracy (TTA views) | single view | wall (command) "
        f"| training rate (last epoch) | vs `{PLAIN}` |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    plain = {(r["recipe"], r["seed"], r["epochs"]): r for r in rows if r["profile"] == PLAIN}
    for r in sorted(rows, key=lambda r: (r["recipe"], r["profile"] != PLAIN, r["profile"], r["seed"])):
        views = VIEWS[r["tta"]]
        rate = f"{r['samples_per_s']:.0f} images/s" if r.get("samples_per_s") else "-"
        if r.get("samples_per_s") and r.get("train_gflop_per_image"):
            rate += f", {r['samples_per_s'] * r['train_gflop_per_image']:.0f} GFLOPS"
        base = plain.get((r["recipe"], r["seed"], r["epochs"]))
        delta = f"{100 * (r['test_accuracy'] - base['test_accuracy']):+.2f} points" if base and base is not r else ""
        lines.append(
            f"| `{r['recipe']}` | `{r['profile']}` | {r['epochs']} | {r['seed']} | **{r['test_accuracy']:.4f}** "
            f"({views}) | {r['single_view']:.4f} | {r['wall_s'] / 60:.1f} min | {rate} | {delta} |"
        )
    m = results.get("machine") or {}
    machine = f"Machine: {m.get('line', m.get('cpu', 'not recorded'))}; bf16 matmul {results.get('bf16_gflops', 0):.0f} GFLOPS."
    return "\n".join([*lines, "", machine])


def measure_views(name: str, device: str = "cpu") -> dict[str, Any]:
    """Trained weights (or a run) evaluated by ``zoo-eval --tta`` with two and with six views, the single view of
    the same pass beside them: what test-time augmentation buys a model already trained, at what evaluation cost."""
    from training.machine import machine_record

    row: dict[str, Any] = {"weights": name, "machine": machine_record(device).get("line")}
    for level in (1, 2):
        command = [str(Path(sys.executable).parent / "zoo-eval"), name, "--tta", str(level), "--json"]
        command += ["--device", device, "--out", str(ROOT / "runs" / "eval-views" / name)]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode != 0:
            return {**row, "error": (done.stderr or done.stdout)[-400:]}
        metrics = json.loads(done.stdout.strip().splitlines()[-1])
        row["single_view"] = round(metrics["test_accuracy_single_view"], 4)
        row[f"views_{VIEWS[level]}"] = round(metrics["test_accuracy"], 4)
        row[f"wall_s_{VIEWS[level]}"] = round(wall, 1)  # the whole command: start, data, model, the pass
        row["samples"] = metrics.get("eval_samples")
    return row


def views_table(results: dict[str, Any]) -> str:
    """The guide's table of what test-time views buy each measured model (``--views``)."""
    rows = [r for r in results.get("views", []) if "error" not in r]
    lines = [
        "| weights | one view | two views (mirror) | six views (and 1-pixel shifts) | six against one | `zoo-eval` (six) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in sorted(rows, key=lambda r: r["weights"]):
        lines.append(
            f"| `{r['weights']}` | {r['single_view']:.4f} | {r['views_2']:.4f} | **{r['views_6']:.4f}** | "
            f"{100 * (r['views_6'] - r['single_view']):+.2f} points | {r['wall_s_6']:.0f} s |"
        )
    machines = sorted({r.get("machine") or "not recorded" for r in rows})
    return "\n".join([*lines, "", f"Machine: {'; '.join(machines)}."])


def write_results(
    out: Path,
    rows: list[dict[str, Any]],
    rate: float,
    flops: float,
    device: str,
    views: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Write the results file; ``views`` rows (``--views``) are kept from the file where not given."""
    from training.machine import machine_record

    if views is None and out.is_file():
        views = json.loads(out.read_text()).get("views")
    results = {
        "machine": machine_record(device),
        "bf16_gflops": round(rate, 1),
        "train_flops_per_image": flops,
        "note": "zoo-train speednet-cifar10 timed from outside (data loading and the final evaluation included); "
        "test accuracy with the recipe's test-time augmentation (views in the table), single view beside it",
        "rows": rows,
        **({"views": views} if views else {}),
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="*", default=None, help="default: 0, or none with --ablate")
    parser.add_argument("--ablate", nargs="*", default=[], choices=list(TRICKS))
    parser.add_argument("--epochs", type=int, default=None, help="a shorter (or longer) schedule than 10 epochs")
    parser.add_argument("--runs", type=Path, default=Path("runs/speednet-bench"))
    parser.add_argument("--out", type=Path, default=None, help="default: benchmarks/results/speednet-DEVICE.json")
    parser.add_argument("--device", default="cpu", help="cpu (the default) or cuda")
    parser.add_argument("--markdown", action="store_true", help="print the results file as the guide's table")
    parser.add_argument("--take", type=Path, action="append", default=[], help="record a finished default run folder")
    parser.add_argument("--recipe", default=SPEED_RECIPE, help="time another recipe's profiles the same way")
    parser.add_argument("--profiles", nargs="*", default=["default"], help="with --recipe: the profiles to run")
    parser.add_argument(
        "--views",
        nargs="+",
        metavar="WEIGHTS",
        help="trained image classifiers (weights or runs) to evaluate with "
        "one, two and six test-time views (no training)",
    )
    args = parser.parse_args()
    args.out = args.out or RESULTS.with_name(f"speednet-{args.device.split(':')[0]}.json")
    if args.markdown:
        results = json.loads(args.out.read_text())
        print(markdown_table(results) + "\n\n" + carried_table(results))
        return
    sys.path.insert(0, str(ROOT))
    previous = json.loads(args.out.read_text()) if args.out.is_file() else {}
    if args.views:
        return run_views(args, previous)
    rate, flops = bf16_matmul_gflops(args.device), train_flops_per_image()
    if args.recipe != SPEED_RECIPE:
        return run_profiles(args, previous, rate, flops)
    if args.seeds is None:
        args.seeds = [] if args.ablate else [0]
    took_seeds = [taken(r)["seed"] for r in args.take]
    plan = [(seed, "default", {}) for seed in args.seeds if seed not in took_seeds]
    plan += [(0, t, TRICKS[t]) for t in args.ablate]
    epochs = args.epochs or 10
    took = [taken(r) for r in args.take]
    done = {(label, seed, epochs) for seed, label, _ in plan} | {(r["label"], r["seed"], r["epochs"]) for r in took}
    rows = [
        r
        for r in previous.get("rows", [])
        if (r["label"], r["seed"], r.get("epochs")) not in done or r.get("recipe", SPEED_RECIPE) != SPEED_RECIPE
    ] + took
    print(f"bf16 matmul: {rate:.0f} GFLOPS")
    print(f"{'setting':<18} {'seed':>4} {'epochs':>6} {'accuracy':>9} {'single':>7} {'wall s':>7}")
    for seed, label, extra in plan:
        row = run(seed, label, extra, args.epochs, args.runs / f"{label}-{epochs}-{seed}", device=args.device)
        rows.append(row)
        if "error" in row:
            print(f"{label:<18} {seed:>4} error: {row['error'][-200:]}")
            continue
        print(
            f"{label:<18} {seed:>4} {row['epochs']:>6} {row['test_accuracy']:>9.4f} {row['single_view']:>7.4f} "
            f"{row['wall_s']:>7.1f}",
            flush=True,
        )
        write_results(
            args.out, rows, rate, flops, args.device
        )  # after every row: a stopped plan keeps what it measured
    results = write_results(args.out, rows, rate, flops, args.device)
    print(markdown_table(results))


def run_profiles(args: argparse.Namespace, previous: dict[str, Any], rate: float, flops: float) -> None:
    """Rows for ``--recipe R --profiles P ...``: each profile's whole run, timed like the speed recipe's."""
    seeds = args.seeds or [0]
    from training.recipes import get_recipe

    epochs = {p: args.epochs or get_recipe(args.recipe).profile(p).epochs for p in args.profiles}
    done = {(args.recipe, p, seed, epochs[p]) for p in args.profiles for seed in seeds}
    rows = [
        r
        for r in previous.get("rows", [])
        if (r.get("recipe"), r.get("profile"), r["seed"], r.get("epochs")) not in done
    ]
    gflop = round(train_flops_per_image(get_recipe(args.recipe).model) / 1e9, 3)
    for r in rows:  # the model's training FLOPs per image, beside its rate (rows written before it was kept too)
        r.update({"train_gflop_per_image": gflop} if r.get("recipe") == args.recipe else {})
    for name in args.profiles:
        for seed in seeds:
            out = args.runs / f"{args.recipe}-{name}-{epochs[name]}-{seed}"
            row = run(seed, "default", {}, args.epochs, out, args.recipe, name, args.device)
            rows.append({**row, "train_gflop_per_image": gflop})
            print(json.dumps(row), flush=True)
            write_results(args.out, rows, rate, flops, args.device)
    print(carried_table(write_results(args.out, rows, rate, flops, args.device)))


def run_views(args: argparse.Namespace, previous: dict[str, Any]) -> None:
    """Rows for ``--views NAME ...``, replacing those of the same weights; the training rows are kept as they were."""
    views = [r for r in previous.get("views", []) if r["weights"] not in args.views]
    for name in args.views:
        row = measure_views(name, args.device)
        views.append(row)
        print(json.dumps(row), flush=True)
    results = {**previous, "views": views}  # the training rows and their machine as they were
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(views_table(results))


if __name__ == "__main__":
    main()
