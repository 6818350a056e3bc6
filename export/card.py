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

from training.machine import cpu_description, cpu_flags
from zoo.weights import get_weights, update_card

from .core import export
from .quantize import MAX_DROP, QuantizeError, quantize_export

#: int8 accuracy measured again may differ from the card's by this much (CPUs without VNNI round differently).
ACCURACY_TOLERANCE = 0.005
#: The fixed, seeded draw of the test split on which a card also records its int8 figures, so that CI re-measures
#: every shipped int8 figure in seconds (``zoo weights int8 NAME --check --subset``), as ``verify`` does for fp32.
VERIFY_SUBSET = 1000
#: On that draw, int8 accuracy measured again may differ from the card's by 10 of its 1,000 samples: int8 rounds
#: differently on CPUs with and without AMX or VNNI, and one sample is a tenth of a point here.
SUBSET_TOLERANCE = 0.01


def machine() -> str:
    """The CPU the figures were measured on, as cards name it."""
    flags = " ".join(cpu_flags()) or "no flags read"
    return f"{cpu_description()} ({flags}), ORT CPU provider, 2 threads"


def measure(
    name: str,
    data_dir: Path | None = None,
    log: Callable[[str], None] = print,
    timing: bool = True,
    subset: bool = False,
    with_subset: bool = False,
) -> dict[str, Any]:
    """Export weights ``name`` to ONNX in a scratch folder, quantise it and return the card's ``int8`` entry.

    The figures are of the whole test split, or with ``subset`` of the :data:`VERIFY_SUBSET` draw only;
    ``with_subset`` adds that draw's figures to the whole split's (``verify_subset`` of each part, what
    ``--record`` writes). A weights whose every part int8 refuses (no convolution or matrix product) gets
    ``{"refused": why}``; one that loses more than a point is measured and returned with ``kept: False``.
    """
    w = get_weights(name)
    with tempfile.TemporaryDirectory(prefix="zoo-int8-") as tmp:
        out = Path(tmp)
        export(w.name, out, ["onnx"], real_samples=16, data_dir=data_dir, log=lambda m: None)
        try:
            record = quantize_export(
                out,
                data_dir=data_dir,
                log=log,
                allow_drop=True,
                timing=timing,
                eval_samples=VERIFY_SUBSET if subset else None,
                also_subset=VERIFY_SUBSET if with_subset and not subset else None,
            )
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
        if subset:
            parts[part]["verify_subset"] = _subset_figures(quality)
        elif "quality_subset" in q:
            parts[part]["verify_subset"] = _subset_figures(q["quality_subset"])
    return {
        "parts": parts,
        "machine": machine(),
        "versions": {k: record["versions"].get(k) for k in ("onnxruntime", "onnx")},
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": f"zoo weights int8 {name} --record",
    }


def _subset_figures(quality: dict[str, Any]) -> dict[str, Any]:
    kept = ("fp32_accuracy", "int8_accuracy", "output_rel_error", "split")
    return {"samples": VERIFY_SUBSET, "seed": 0, **{k: quality[k] for k in kept if k in quality}, "machine": machine()}


def record(name: str, entry: dict[str, Any], subset_only: bool = False) -> Path:
    """Write ``entry`` as the ``int8`` field of weights ``name``'s card, in the registry file that holds it; with
    ``subset_only`` (an entry measured on the verify subset) add only each part's ``verify_subset`` figures to the
    card's int8 entry, keeping its whole-split figures."""
    if not subset_only:
        return update_card(name, {"int8": entry})
    card = dict(get_weights(name).card.get("int8") or {})
    if not card.get("parts"):
        raise QuantizeError(f"{name}: the card has no int8 figures to add a subset to; record the whole split first")
    parts = {p: dict(figures) for p, figures in card["parts"].items()}
    for part, measured in (entry.get("parts") or {}).items():
        if part in parts and "verify_subset" in measured:
            parts[part]["verify_subset"] = measured["verify_subset"]
    return update_card(name, {"int8": {**card, "parts": parts}})


def check(name: str, measured: dict[str, Any]) -> dict[str, Any]:
    """Card vs measured int8 accuracy for each part: ``ok`` True/False, or None where the card has no figure.
    Figures measured on the verify subset are compared with the card's figures of that same draw."""
    card = get_weights(name).card.get("int8") or {}
    rows = {}
    for part, measured_part in (measured.get("parts") or {}).items():
        then = (card.get("parts") or {}).get(part) or {}
        now = measured_part.get("verify_subset") or measured_part
        if "verify_subset" in measured_part:
            then = then.get("verify_subset") or {}
        if "int8_accuracy" not in then or "int8_accuracy" not in now:
            rows[part] = {
                "ok": None,
                "card": then.get("int8_accuracy"),
                "measured": now.get("int8_accuracy"),
                "note": "no int8 accuracy on the card" if not then else "no accuracy measured",
            }
            continue
        tolerance = SUBSET_TOLERANCE if "verify_subset" in measured_part else ACCURACY_TOLERANCE
        rows[part] = {
            "ok": abs(now["int8_accuracy"] - then["int8_accuracy"]) <= tolerance,
            "tolerance": tolerance,
            "card": then["int8_accuracy"],
            "measured": now["int8_accuracy"],
            "speedup_card": then.get("speedup"),
            "speedup_measured": now.get("speedup"),
        }
    return rows
