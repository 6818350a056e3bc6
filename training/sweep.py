"""Several runs of one recipe: hyper-parameter sweeps (the seeds' RunBuilder/RunManager) and the
recipes that compare variants (optimiser comparison, batch-norm demo)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from . import plots
from .engine import TrainConfig
from .recipes import get_recipe
from .trials import MODEL_PREFIX, TrialRunner, split_params


def write_sweep(out_dir: Path, runs: Sequence[Mapping[str, Any]]) -> None:
    """``sweep.csv`` (one row per run and evaluation), ``sweep.json`` (runs, params, histories) and
    ``comparison.png`` (the runs' train-loss curves, per step where the runs logged steps, else per epoch): what
    every multi-run writes. Each run: ``run``, ``label``, ``params``, ``history``, ``wall_time_s``, ``run_dir``."""
    rows: list[dict[str, Any]] = []
    curves: dict[str, list[float]] = {}
    per_step = any((Path(r["run_dir"]) / "steps.jsonl").is_file() for r in runs)
    for r in runs:
        rows += [
            {
                "run": r["run"],
                "label": r["label"],
                **{f"param_{k}": v for k, v in r["params"].items() if k != "label"},
                **{k: v for k, v in record.items() if isinstance(v, (int, float, str))},
                "run_duration_s": r["wall_time_s"],
            }
            for record in r["history"]
        ]
        curves[r["label"]] = _loss_curve(Path(r["run_dir"]), r["history"], per_step)
    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    with open(out_dir / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "sweep.json").write_text(
        json.dumps([{k: v for k, v in r.items() if k != "run_dir"} for r in runs], indent=2, default=str)
    )
    finite = [v for c in curves.values() for v in c if v == v]
    ylim = (0.0, min(max(finite), 3 * sorted(finite)[len(finite) // 2] + 1e-9)) if finite else None
    plots.comparison(
        curves, out_dir / "comparison.png", xlabel="step" if per_step else "epoch", ylabel="train loss", ylim=ylim
    )


def _loss_curve(run_dir: Path, history: Sequence[Mapping[str, Any]], per_step: bool) -> list[float]:
    steps = run_dir / "steps.jsonl"
    if per_step and steps.is_file():
        return [json.loads(line)["loss"] for line in steps.read_text().splitlines() if line.strip()]
    return [r.get("train_loss", float("nan")) for r in history]


def label_of(combo: Mapping[str, Any]) -> str:
    if "label" in combo:
        return str(combo["label"])
    return "-".join(f"{k.removeprefix(MODEL_PREFIX)}={v}" for k, v in combo.items()).replace("/", "_")


def run_many(
    base: TrainConfig, combos: Sequence[Mapping[str, Any]], out_dir: Path, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """One run per combination under ``out_dir/<label>/``; writes ``sweep.csv``/``sweep.json``
    (per-epoch loss, accuracy, durations per run) and a comparison plot of the train loss."""
    recipe = get_recipe(base.recipe)
    for combo in combos:  # every combination's hyper-parameters checked before the first run starts
        split_params(recipe, base.profile, base.overrides, combo)
    out_dir.mkdir(parents=True, exist_ok=True)
    runner = TrialRunner(base)
    runs: list[dict[str, Any]] = []
    for i, combo in enumerate(combos, 1):
        label = label_of(combo)
        log(f"--- run {i}/{len(combos)}: {label}")
        summary, trainer = runner.run_trial(combo, out_dir / label)
        runs.append(
            {
                "run": i,
                "label": label,
                "params": dict(combo),
                "summary": summary,
                "history": trainer.history,
                "wall_time_s": summary["wall_time_s"],
                "run_dir": out_dir / label,
            }
        )
    write_sweep(out_dir, runs)
    return {
        "runs": [
            {
                "label": r["label"],
                "params": r["params"],
                **{k: v for k, v in r["summary"].items() if isinstance(v, (int, float, str)) or k == "initial"},
            }
            for r in runs
        ],
        "out_dir": str(out_dir),
        "csv": str(out_dir / "sweep.csv"),
        "plot": str(out_dir / "comparison.png"),
    }
