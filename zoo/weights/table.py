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
