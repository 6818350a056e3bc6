"""int8 figures on a weights card: measured once (``zoo weights int8 NAME --record``), shown by ``zoo weights
info``, re-measured against the card by ``zoo weights int8 NAME --check``.

The figures come from the code ``zoo-export NAME --quantize int8`` runs (:func:`export.quantize.quantize_export`,
the family's calibration plan): int8 and fp32 accuracy on the whole test split, and the ORT CPU speed-up at
batch 1 and 64 with the machine named. Accuracy is checked against the card (within :data:`ACCURACY_TOLERANCE`);
speed depends on the machine, so it is reported beside the card's, never failed on.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from training.machine import cpu_description
from zoo.weights import get_weights, update_card

from .core import export
from .quantize import MAX_DROP, QuantizeError, quantize_export

#: int8 accuracy measured again may differ from the card's by this much (CPUs without VNNI round differently).
ACCURACY_TOLERANCE = 0.005


def machine() -> str:
    """The CPU the figures were measured on, as cards name it."""
    return f"{cpu_description()}, ORT CPU provider, 2 threads"


def measure(
    name: str, data_dir: Path | None = None, log: Callable[[str], None] = print, timing: bool = True
) -> dict[str, Any]:
    """Export weights ``name`` to ONNX in a scratch folder, quantise it and return the card's ``int8`` entry.

    A weights whose every part int8 refuses (no convolution or matrix product) gets ``{"refused": why}``;
    one that loses more than a point is measured and returned with ``kept: False``.
    """
    w = get_weights(name)
    with tempfile.TemporaryDirectory(prefix="zoo-int8-") as tmp:
        out = Path(tmp)
        export(w.name, out, ["onnx"], real_samples=16, data_dir=data_dir, log=lambda m: None)
        try:
            record = quantize_export(out, data_dir=data_dir, log=log, allow_drop=True, timing=timing)
        except QuantizeError as e:
            return {"refused": str(e)}
    parts = {}
    for part, entry in record["parts"].items():
        q = entry.get("quantized") or {}
        if "refused" in q:
            parts[part] = {"refused": q["refused"]}
            continue
        quality, lat = q.get("quality", {}), q.get("latency_ms") or {}
        parts[part] = {
            "method": q["method"],
            "plan": q.get("plan"),
            **{
                k: quality[k]
                for k in ("fp32_accuracy", "int8_accuracy", "drop", "output_rel_error", "split")
                if k in quality
            },
            "speedup": {b: lat[b]["speedup"] for b in ("batch1", "batch64") if b in lat},
            "latency_ms": {
                b: {"fp32": lat[b]["fp32_ms"], "int8": lat[b]["int8_ms"]} for b in ("batch1", "batch64") if b in lat
            },
            "size_bytes": q["size_bytes"],
            "kept": quality.get("drop") is None or quality["drop"] <= MAX_DROP,
        }
    return {
        "parts": parts,
        "machine": machine(),
        "versions": {k: record["versions"].get(k) for k in ("onnxruntime", "onnx")},
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"zoo weights int8 {name} --record",
    }


def record(name: str, entry: dict[str, Any]) -> Path:
    """Write ``entry`` as the ``int8`` field of weights ``name``'s card, in the registry file that holds it."""
    return update_card(name, {"int8": entry})


def check(name: str, measured: dict[str, Any]) -> dict[str, Any]:
    """Card vs measured int8 accuracy for each part: ``ok`` True/False, or None where the card has no figure."""
    card = get_weights(name).card.get("int8") or {}
    rows = {}
    for part, now in (measured.get("parts") or {}).items():
        then = (card.get("parts") or {}).get(part) or {}
        if "int8_accuracy" not in then or "int8_accuracy" not in now:
            rows[part] = {
                "ok": None,
                "card": then.get("int8_accuracy"),
                "measured": now.get("int8_accuracy"),
                "note": "no int8 accuracy on the card" if not then else "no accuracy measured",
            }
            continue
        rows[part] = {
            "ok": abs(now["int8_accuracy"] - then["int8_accuracy"]) <= ACCURACY_TOLERANCE,
            "card": then["int8_accuracy"],
            "measured": now["int8_accuracy"],
            "speedup_card": then.get("speedup"),
            "speedup_measured": now.get("speedup"),
        }
    return rows
