"""README's weights table, generated from the cards (``zoo weights list --markdown``)."""

from __future__ import annotations

from collections.abc import Iterable

from .registry import get_weights, list_weights


def markdown_table(names: Iterable[str] | None = None) -> str:
    """One row per weights: headline metric, evaluation split, file, the command that trained it, wall time."""
    rows = ["| weights | metric | value | measured on | file | trained by | wall |", "|---|---|---:|---|---|---|---:|"]
    for name in names or list_weights():
        w = get_weights(name)
        metric, _ = w.headline
        value = w.metrics.get(metric)
        shown = (
            f"**{value:.4f}**"
            if isinstance(value, (int, float)) and abs(value) < 100
            else (f"**{value:.2f}**" if isinstance(value, (int, float)) else "not built here")
        )
        judged = w.metrics.get("test_confident_share")
        if judged is not None:  # generators: what the digit classifier makes of their samples
            shown += (
                f" (digits recognised: {judged:.0%}; class entropy {w.metrics['test_class_entropy_bits']:.2f} bits)"
            )
        f = w.card.get("file") or {}
        size = f.get("size", 0)
        shown_size = f"{size / 1e6:.2f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
        file = (
            f"{shown_size} {f.get('dtype', '')}" + ("" if w.card.get("in_package") else " (not shipped)")
            if w.built
            else f"`zoo weights build {name}`"
        )
        t = w.card.get("training") or {}
        wall = f"{t['wall_time_s']:.0f} s" if t.get("wall_time_s") is not None else (w.card.get("build_time") or "")
        if t.get("wall_time_s") is not None and str(t.get("device", "")).startswith("cuda"):  # where a GPU trained it
            wall += f" on {t.get('device_name')}"
        split = (w.card.get("dataset") or {}).get("split_description", "")
        rows.append(
            f"| `{name}`{' *' if w.default else ''} | {metric} | {shown} | {split} | {file} | "
            f"`{t.get('command', '')}` | {wall} |"
        )
    return "\n".join(rows)


def int8_table(names: Iterable[str] | None = None) -> str:
    """README's int8 table: every card with int8 figures (``zoo weights int8 NAME --record``): accuracy beside
    fp32's on the whole test split, the ORT speed-up at batch 1 and 64, and the CPU that measured them."""
    rows = [
        "| weights | fp32 accuracy | int8 accuracy | ORT speed-up, batch 1 | batch 64 (fp32 → int8 ms) | measured on |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in names or list_weights():
        entry = get_weights(name).card.get("int8") or {}
        for part, p in (entry.get("parts") or {}).items():
            if "int8_accuracy" not in p:
                continue
            speed, lat = p.get("speedup") or {}, (p.get("latency_ms") or {}).get("batch64") or {}
            b1 = f"{speed['batch1']:.2f}x" if "batch1" in speed else "-"
            b64 = f"{speed['batch64']:.2f}x" if "batch64" in speed else "-"
            if lat:
                b64 += f" ({lat['fp32']:.1f} → {lat['int8']:.1f})"
            machine = str(entry.get("machine", "")).split(", ORT")[0]
            label = f"`{name}`" + ("" if part == "model" else f" {part}")
            rows.append(f"| {label} | {p['fp32_accuracy']:.4f} | {p['int8_accuracy']:.4f} | {b1} | {b64} | {machine} |")
    return "\n".join(rows)


def gpu_table(names: Iterable[str] | None = None) -> str:
    """README's table of the weights a GPU trained: the run, its epochs, wall time and GPU, and the headline
    measured from the shipped file (with the fixed verify draw's figure where the card has one)."""
    rows = [
        "| weights | run | epochs | wall | trained on | measured (evaluation split) | verify subset |",
        "|---|---|---:|---:|---|---:|---:|",
    ]
    for name in names or list_weights():
        w = get_weights(name)
        t = w.card.get("training") or {}
        if not str(t.get("device", "")).startswith("cuda") or not w.built:
            continue
        metric, _ = w.headline
        subset = w.card.get("verify_subset") or {}
        drawn = (subset.get("metrics") or {}).get(metric)
        rows.append(
            f"| `{name}` | `{t.get('command', '')}` | {t.get('epochs', '')} | {t.get('wall_time_s', 0):.0f} s | "
            f"{t.get('device_name', '')} ({t.get('precision', '')}) | {metric} **{w.metrics[metric]:.4f}** | "
            + (f"{drawn:.4f} ({subset['samples']:,})" if drawn is not None else "")
            + " |"
        )
    return "\n".join(rows)
