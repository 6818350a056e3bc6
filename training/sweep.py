"""Several runs of one recipe: hyper-parameter sweeps (the seeds' RunBuilder/RunManager) and the
recipes that compare variants (optimiser comparison, batch-norm demo)."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from . import plots
from .engine import TrainConfig, Trainer
from .recipes import get_recipe


def write_sweep(out_dir: Path, runs: list[dict[str, Any]], rows: list[dict[str, Any]], curves: dict[str, list[float]],
                xlabel: str = "epoch") -> None:
    """``sweep.csv`` (one row per run and evaluation), ``sweep.json`` (runs, params, histories) and
    ``comparison.png`` (the runs' train-loss curves): what every multi-run writes."""
    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    with open(out_dir / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "sweep.json").write_text(json.dumps(runs, indent=2, default=str))
    finite = [v for c in curves.values() for v in c if v == v]
    ylim = (0.0, min(max(finite), 3 * sorted(finite)[len(finite) // 2] + 1e-9)) if finite else None
    plots.comparison(curves, out_dir / "comparison.png", xlabel=xlabel, ylabel="train loss", ylim=ylim)


def sweep_rows(run: int, label: str, params: Mapping[str, Any], history: Sequence[Mapping[str, Any]],
               wall_time_s: Any, run_dir: Path) -> tuple[list[dict[str, Any]], list[float]]:
    """One run's ``sweep.csv`` rows (one per evaluation) and its train-loss curve (per step where logged)."""
    rows = [{"run": run, "label": label, **{f"param_{k}": v for k, v in params.items() if k != "label"},
             **{k: v for k, v in record.items() if isinstance(v, (int, float, str))}, "run_duration_s": wall_time_s}
            for record in history]
    steps = run_dir / "steps.jsonl"
    if steps.is_file():
        return rows, [json.loads(line)["loss"] for line in steps.read_text().splitlines() if line.strip()]
    return rows, [r.get("train_loss", float("nan")) for r in history]


def _overrides(combo: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in combo.items() if k != "label" and not k.startswith("model.")}


def label_of(combo: Mapping[str, Any]) -> str:
    if "label" in combo:
        return str(combo["label"])
    return "-".join(f"{k.removeprefix('model.')}={v}" for k, v in combo.items()).replace("/", "_")


def run_many(
    base: TrainConfig,
    combos: Sequence[Mapping[str, Any]],
    out_dir: Path,
    convert_model_arg: Callable[[str, Any], Any],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """One run per combination under ``out_dir/<label>/``; writes ``sweep.csv``/``sweep.json``
    (per-epoch loss, accuracy, durations per run) and a comparison plot of the train loss."""
    recipe = get_recipe(base.recipe)
    profile = recipe.profile(base.profile or recipe.default)
    for combo in combos:  # every combination's hyper-parameters checked before the first run starts
        profile.with_overrides(**{**base.overrides, **_overrides(combo)})
    out_dir.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    data = base.data
    curves: dict[str, list[float]] = {}
    for i, combo in enumerate(combos, 1):
        label = label_of(combo)
        overrides = _overrides(combo)
        model_kwargs = {k[6:]: convert_model_arg(k[6:], v) for k, v in combo.items() if k.startswith("model.")}
        cfg = replace(base, overrides={**base.overrides, **overrides},
                      model_kwargs={**base.model_kwargs, **model_kwargs}, out=out_dir / label, data=data)
        log(f"--- run {i}/{len(combos)}: {label}")
        trainer = Trainer(cfg)
        summary = trainer.fit()
        data = trainer.data
        runs.append({"run": i, "label": label, "params": dict(combo), "summary": summary, "history": trainer.history})
        run_rows, curves[label] = sweep_rows(i, label, combo, trainer.history, summary["wall_time_s"], out_dir / label)
        rows += run_rows
    per_step = any((out_dir / r["label"] / "steps.jsonl").is_file() for r in runs)
    write_sweep(out_dir, runs, rows, curves, "step" if per_step else "epoch")
    return {"runs": [{"label": r["label"], "params": r["params"], **{k: v for k, v in r["summary"].items()
                                                                     if isinstance(v, (int, float, str)) or k == "initial"}}
                     for r in runs],
            "out_dir": str(out_dir), "csv": str(out_dir / "sweep.csv"), "plot": str(out_dir / "comparison.png")}
