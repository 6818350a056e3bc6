"""``zoo weights verify``: re-measure trained weights against their cards (CI runs it on every shipped card)."""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from zoo.weights import Weights, get_weights, list_weights, update_card

from .data import DataNotFoundError
from .evaluate import evaluate_checkpoint
from .weights import DEFAULT_TOLERANCE, evaluation_record


def verify_one(
    w: Weights, data_dir: Path | None = None, device: str = "cpu", full: bool = False, record: bool = False
) -> dict[str, Any]:
    """Measure ``w``'s file and compare with the card: on the card's fixed verify subset where it has one (unless
    ``full``), else on the whole evaluation split. ``record`` (whole split only): a card that holds gets the
    evaluation's confusion matrix (see :func:`training.weights.evaluation_record`)."""
    from .checkpoint import checkpoint_from_weights

    metric, mode = w.headline
    card_value = w.metrics.get(metric)
    if card_value is None:
        return {
            "name": w.name,
            "metric": metric,
            "card": None,
            "measured": None,
            "ok": None,
            "note": f"not built: {w.how_to_build()}",
        }
    tol = {**DEFAULT_TOLERANCE, **(w.card.get("verify_tolerance") or {})}
    subset = None if full else w.card.get("verify_subset")
    expected = dict(subset["metrics"]) if subset else w.metrics
    plots = tempfile.TemporaryDirectory() if record and subset is None else None
    try:
        measured = evaluate_checkpoint(
            checkpoint_from_weights(w),
            data_dir,
            device=device,
            eval_samples=int(subset["samples"]) if subset else None,
            seed=int(subset.get("seed", 0)) if subset else 0,  # the draw the card's figures were measured on
            out=Path(plots.name) if plots else None,
        )
    except DataNotFoundError as e:  # the other cards can still be checked
        if plots is not None:
            plots.cleanup()
        return {
            "name": w.name,
            "metric": metric,
            "card": card_value,
            "measured": None,
            "ok": None,
            "note": f"skipped: {str(e).splitlines()[0]}",
        }
    rows = {}
    for key, value in expected.items():
        if key in measured and isinstance(measured[key], (int, float)):
            bound = tol["atol"] + tol["rtol"] * abs(value)
            rows[key] = {
                "card": value,
                "measured": float(measured[key]),
                "ok": abs(float(measured[key]) - value) <= bound,
            }
    if plots is not None:
        plots.cleanup()
    head = rows.get(metric, {"measured": None, "ok": False})
    ok = all(r["ok"] for r in rows.values()) and bool(rows)
    split = str((w.card.get("dataset") or {}).get("split_description") or "the evaluation split")
    evaluation = evaluation_record(measured, split, w.labels) if plots is not None and ok else None
    recorded = evaluation is not None
    if evaluation is not None:
        update_card(w.name, {"evaluation": evaluation})
    return {
        "name": w.name,
        "metric": metric,
        "card": expected.get(metric),
        "measured": head["measured"],
        "split": f"verify subset of {subset['samples']:,}" if subset else "whole evaluation split",
        "ok": ok,
        "tolerance": tol,
        "recorded": recorded,
        "metrics": rows,
    }


def verify(
    names: Iterable[str] | None = None,
    data_dir: Path | None = None,
    device: str = "cpu",
    log: Callable[[dict[str, Any]], None] | None = None,
    full: bool = False,
    record: bool = False,
) -> list[dict[str, Any]]:
    results = []
    for name in names or list_weights():
        row = verify_one(get_weights(name), data_dir, device, full=full, record=record)
        results.append(row)
        if log is not None:
            log(row)
    return results


def format_value(value: Any) -> str:
    if not isinstance(value, (int, float)) or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4f}" if abs(value) < 100 else f"{value:.2f}"
