"""The site's pictures, drawn from what the project measured: a weights page's training curves (the card's
``training.history``), confusion matrix (the card's ``evaluation``) and generated samples (the weights themselves,
a fixed seed), and the benchmark plots (``benchmarks/results/*.json``, each naming its machine)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
#: Generated samples are drawn from this seed (the page says so).
SAMPLE_SEED = 0


def _save(fig: Any, path: Path) -> Path:
    from training.plots import save_figure

    return save_figure(fig, path, dpi=80)


# --------------------------------------------------------------------------- weights pages


def weights_pictures(name: str, out: Path) -> list[tuple[str, str]]:
    """Draw the pictures of weights ``name`` into ``out``; return (file name, caption) pairs, in page order."""
    from training import plots
    from zoo.weights import get_weights

    w = get_weights(name)
    card = w.card
    drawn: list[tuple[str, str]] = []
    history = (card.get("training") or {}).get("history") or []
    if len(history) >= 1:
        plots.training_curves(history, out / "curves.png", title=f"{name}: the run that built these weights")
        drawn.append(("curves.png", "Training curves of the run that built these weights (its `metrics.jsonl`)."))
    evaluation = card.get("evaluation") or {}
    if evaluation.get("confusion_matrix") and w.labels:
        plots.confusion_matrix(
            torch.tensor(evaluation["confusion_matrix"]),
            list(w.labels),
            out / "confusion.png",
            title=f"confusion matrix ({evaluation.get('split', 'test')})",
        )
        drawn.append(("confusion.png", f"Confusion matrix on {evaluation.get('split')} (rows: true class)."))
    samples = generated_samples(name)
    if samples is not None:
        plots.image_grid(samples, out / "samples.png", nrow=8, title=f"{name}: 32 samples (seed {SAMPLE_SEED})")
        drawn.append(("samples.png", f"32 samples drawn from the shipped weights (noise seed {SAMPLE_SEED})."))
    return drawn


def generated_samples(name: str) -> torch.Tensor | None:
    """32 images from a generator's or a VAE decoder's noise (seeded), in [0, 1]; None for other models."""
    import zoo
    from zoo.weights import get_weights

    w = get_weights(name)
    spec = zoo.get_spec(w.model)
    pre = w.preprocessing or {}
    if spec.task not in ("gan", "vae") or pre.get("kind") != "image":
        return None
    part = next(p for p in spec.resolved(**w.model_kwargs).parts if p.name in ("generator", "decoder"))
    model = zoo.get_model(w.model, weights=name).eval()
    module = model.get_submodule(part.module) if part.module else model
    shape = (32, *part.inputs[0].shape[1:])
    g = torch.Generator().manual_seed(SAMPLE_SEED)
    noise = torch.rand(shape, generator=g) * 2 - 1 if pre.get("noise") == "uniform" else torch.randn(shape, generator=g)
    with torch.no_grad():
        images = module(noise).reshape(32, int(pre.get("channels", 1)), int(pre["height"]), int(pre["width"]))
    mean = torch.tensor(pre.get("mean", [0.0])).reshape(1, -1, 1, 1)
    std = torch.tensor(pre.get("std", [1.0])).reshape(1, -1, 1, 1)
    return (images * std + mean).clamp(0, 1)


# --------------------------------------------------------------------------- benchmark plots


def _machine(results: dict[str, Any]) -> str:
    machine = results.get("machine")
    if isinstance(machine, dict):
        return str(machine.get("cpu") or machine.get("name") or machine)
    return str(machine or "machine not recorded")


def _load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.is_file() else None


def serving_plot(out: Path) -> tuple[str, str] | None:
    """Served requests per second against concurrent clients, one panel per model, a line per engine setup."""
    results = _load("serving-cpu.json")
    if not results:
        return None
    rows = [r for r in results["rows"] if r["model"] != "trivial" and "no HTTP" not in r["setup"]]
    models = sorted({r["model"] for r in rows})
    fig, axes = plt.subplots(1, len(models), figsize=(5.5 * len(models), 3.8), squeeze=False)
    for ax, model in zip(axes[0], models):
        for setup in dict.fromkeys(r["setup"] for r in rows if r["model"] == model):
            points = sorted((r["clients"], r["rps"]) for r in rows if r["model"] == model and r["setup"] == setup)
            ax.plot([c for c, _ in points], [v for _, v in points], marker="o", label=setup)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent clients")
        ax.set_ylabel("requests / s")
        ax.set_title(model)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Serving throughput ({_machine(results)}; benchmarks/serving_speed.py)", fontsize=9)
    _save(fig, out / "serving.png")
    return "serving.png", f"Requests per second against clients, both engines; {_machine(results)}."


def int8_plot(out: Path) -> tuple[str, str] | None:
    """ONNX Runtime int8 over fp32 speed-up per model, batch 1 and batch 64."""
    results = _load("int8-cpu.json")
    if not results:
        return None
    rows = [r for r in results["rows"] if "latency_ms" in r and "batch64" in r["latency_ms"]]
    names = [r["weights"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(names)), 3.8))
    x = range(len(names))
    for offset, batch in ((-0.2, "batch1"), (0.2, "batch64")):
        ax.bar([i + offset for i in x], [r["latency_ms"][batch]["speedup"] for r in rows], width=0.4, label=batch)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xticks(list(x), names, rotation=40, ha="right", fontsize=7)
    ax.set_ylabel("int8 speed-up over fp32 (ORT)")
    ax.legend()
    ax.set_title(f"int8 speed-ups ({_machine(results)}; benchmarks/int8.py)", fontsize=9)
    _save(fig, out / "int8.png")
    return "int8.png", f"int8 over fp32 with ONNX Runtime, per weights; {_machine(results)}."


def precision_plot(out: Path) -> tuple[str, str] | None:
    """Training images per second in fp32, bf16 and bf16 + channels_last, per recipe (each machine measured)."""
    files = sorted(RESULTS.glob("train_speed-cpu-precision*.json"))
    loaded = [(f, json.loads(f.read_text())) for f in files]
    loaded = [(f, {**r, "rows": r.get("precision") or []}) for f, r in loaded if r.get("precision")]
    if not loaded:
        return None
    fig, axes = plt.subplots(1, len(loaded), figsize=(5.5 * len(loaded), 3.8), squeeze=False)
    for ax, (f, results) in zip(axes[0], loaded):
        recipes = [r["recipe"] for r in results["rows"]]
        for k, key in enumerate(("fp32", "bf16", "bf16+cl")):
            base = [r["fp32"] for r in results["rows"]]
            ax.bar(
                [i + (k - 1) * 0.27 for i in range(len(recipes))],
                [r.get(key, 0) / b for r, b in zip(results["rows"], base)],
                width=0.27,
                label=key,
            )
        ax.set_xticks(range(len(recipes)), recipes, rotation=40, ha="right", fontsize=7)
        ax.set_ylabel("training speed / fp32")
        ax.set_title(f"{_machine(results)} ({f.name})", fontsize=8)
        ax.legend(fontsize=7)
    _save(fig, out / "precision.png")
    return "precision.png", "Training speed by precision relative to fp32, per recipe and machine."


def inference_plot(out: Path) -> tuple[str, str] | None:
    """ONNX Runtime (and TorchScript) over eager PyTorch, per model, at batch 1 and 32."""
    results = _load("inference-cpu.json")
    if not results:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), squeeze=False)
    for ax, batch in zip(axes[0], (1, 32)):
        rows = [r for r in results["rows"] if r["batch"] == batch and r.get("ort_vs_eager")]
        names = [r["model"] for r in rows]
        ax.bar(range(len(names)), [r["ort_vs_eager"] for r in rows], label="ORT / eager")
        ax.axhline(1.0, color="grey", lw=0.8)
        ax.set_xticks(range(len(names)), names, rotation=40, ha="right", fontsize=7)
        ax.set_title(f"batch {batch}")
        ax.set_ylabel("speed-up over eager")
    fig.suptitle(f"Inference runtimes ({_machine(results)}; benchmarks/inference_speed.py)", fontsize=9)
    _save(fig, out / "inference.png")
    return "inference.png", f"ONNX Runtime over eager PyTorch per model; {_machine(results)}."


BENCHMARK_PLOTS: list[Callable[[Path], tuple[str, str] | None]] = [
    serving_plot,
    int8_plot,
    precision_plot,
    inference_plot,
]
