"""Several runs of one recipe: hyper-parameter sweeps (the seeds' RunBuilder/RunManager) and the
recipes that compare variants (optimiser comparison, batch-norm demo)."""

from __future__ import annotations

import csv
import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from . import plots
from .engine import TrainConfig, Trainer
from .recipes import get_recipe


def parse_sweep(specs: Sequence[str]) -> list[dict[str, str]]:
    """``["lr=0.01,0.001", "batch_size=32,64"]`` → the cartesian product as a list of dicts."""
    keys, values = [], []
    for spec in specs:
        if "=" not in spec:
            raise ValueError(f"--sweep expects key=v1,v2,...; got {spec!r}")
        key, _, vals = spec.partition("=")
        keys.append(key.strip())
        values.append([v.strip() for v in vals.split(",") if v.strip()])
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


def _overrides(combo: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in combo.items() if k != "label" and not k.startswith("model.")}


def _label(combo: Mapping[str, Any]) -> str:
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
        label = _label(combo)
        overrides = _overrides(combo)
        model_kwargs = {k[6:]: convert_model_arg(k[6:], v) for k, v in combo.items() if k.startswith("model.")}
        cfg = replace(base, overrides={**base.overrides, **overrides},
                      model_kwargs={**base.model_kwargs, **model_kwargs}, out=out_dir / label, data=data)
        log(f"--- run {i}/{len(combos)}: {label}")
        trainer = Trainer(cfg)
        summary = trainer.fit()
        data = trainer.data
        runs.append({"run": i, "label": label, "params": dict(combo), "summary": summary, "history": trainer.history})
        for record in trainer.history:
            rows.append({"run": i, "label": label, **{f"param_{k}": v for k, v in combo.items() if k != "label"},
                         **{k: v for k, v in record.items() if isinstance(v, (int, float, str))},
                         "run_duration_s": summary["wall_time_s"]})
        steps = out_dir / label / "steps.jsonl"
        if steps.is_file():
            curves[label] = [json.loads(line)["loss"] for line in steps.read_text().splitlines() if line.strip()]
        else:
            curves[label] = [r.get("train_loss", float("nan")) for r in trainer.history]
    fieldnames: list[str] = []
    for row in rows:
        fieldnames += [k for k in row if k not in fieldnames]
    with open(out_dir / "sweep.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
    (out_dir / "sweep.json").write_text(json.dumps(runs, indent=2, default=str))
    per_step = any((out_dir / r["label"] / "steps.jsonl").is_file() for r in runs)
    finite = [v for c in curves.values() for v in c if v == v]
    ylim = (0.0, min(max(finite), 3 * sorted(finite)[len(finite) // 2] + 1e-9)) if finite else None
    plots.comparison(curves, out_dir / "comparison.png", xlabel="step" if per_step else "epoch", ylabel="train loss",
                     ylim=ylim)
    return {"runs": [{"label": r["label"], "params": r["params"], **{k: v for k, v in r["summary"].items()
                                                                     if isinstance(v, (int, float, str)) or k == "initial"}}
                     for r in runs],
            "out_dir": str(out_dir), "csv": str(out_dir / "sweep.csv"), "plot": str(out_dir / "comparison.png")}
