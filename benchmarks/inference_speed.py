"""Inference speed per image classifier: eager PyTorch, TorchScript, onnxruntime and torch.compile.

Latency p50/p99 and throughput at batch 1 and 32, on the CPU (``--threads``, default 2) or the GPU.
The artifacts are the ones ``zoo-export`` writes (fresh weights: speed does not depend on them).
Prints a table and writes JSON to ``benchmarks/results/inference-<device>.json``.

    python benchmarks/inference_speed.py                       # every image classifier, CPU, 2 threads
    python benchmarks/inference_speed.py --models mnist-cnn resnet --no-compile
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

import zoo
from export.core import export_onnx, export_torchscript
from training.machine import machine_record

RESULTS = Path(__file__).resolve().parent / "results"


def measure(
    fn: Callable[[], Any], sync: Callable[[], None], min_runs: int = 30, min_seconds: float = 1.0
) -> dict[str, float]:
    for _ in range(5):
        fn()
    sync()
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < min_runs or time.perf_counter() - start < min_seconds:
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
        if len(times) >= 2000:
            break
    ms = np.array(times) * 1000
    return {"p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "runs": len(times)}


def bench_model(
    name: str, device: torch.device, threads: int, batches: list[int], compile_: bool, tmp: Path
) -> list[dict]:
    import onnxruntime as ort

    spec = zoo.get_spec(name).resolved()
    part = spec.parts[0]
    torch.manual_seed(0)
    model = zoo.get_model(name).eval()
    ts_info = export_torchscript(model, part, tmp / f"{name}.pt", {})
    onnx_info = export_onnx(model, part, tmp / f"{name}.onnx", None, {})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(tmp / ts_info["file"]), map_location=device).eval()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if device.type == "cuda" else ["CPUExecutionProvider"]
    session = ort.InferenceSession(str(tmp / onnx_info["file"]), options, providers=providers)
    model = model.to(device)
    compiled = None
    if compile_:
        try:
            compiled = torch.compile(model)
        except Exception:  # pragma: no cover - inductor unavailable
            compiled = None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    rows = []
    for batch in batches:
        x = part.example_inputs({"batch": batch})[0]
        xd = x.to(device)
        feed = {session.get_inputs()[0].name: x.numpy()}
        results: dict[str, Any] = {}
        with torch.inference_mode():
            results["eager"] = measure(lambda xd=xd: model(xd), sync)
            results["torchscript"] = measure(lambda xd=xd: scripted(xd), sync)
            results["onnxruntime"] = measure(lambda feed=feed: session.run(None, feed), sync)
            if compiled is not None:
                try:
                    t0 = time.perf_counter()
                    compiled(xd)
                    sync()
                    warm = time.perf_counter() - t0
                    results["torch.compile"] = {
                        **measure(lambda xd=xd: compiled(xd), sync),
                        "compile_s": round(warm, 1),
                    }
                except Exception as e:  # inductor may fail for a model: record it
                    results["torch.compile"] = {"error": f"{type(e).__name__}: {str(e).splitlines()[0][:120]}"}
        for r in results.values():
            if "p50_ms" in r:
                r["images_per_s"] = batch / (r["p50_ms"] / 1000)
        eager = results["eager"]["p50_ms"]
        rows.append(
            {
                "model": name,
                "batch": batch,
                "input": list(x.shape[1:]),
                "params": zoo.count_parameters(model),
                "onnx_exporter": onnx_info["exporter"],
                "torchscript_method": ts_info["method"],
                "runtimes": results,
                "ort_provider": session.get_providers()[0],
                "ort_vs_eager": results["onnxruntime"]["p50_ms"] / eager,
                "ts_vs_eager": results["torchscript"]["p50_ms"] / eager,
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="*", default=None, help="default: every image classifier")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batches", nargs="*", type=int, default=[1, 32])
    parser.add_argument("--no-compile", dest="compile", action="store_false", help="skip torch.compile")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    models = args.models or zoo.list_models(task="image-classification")
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            print(f"{name} ...", flush=True)
            rows += bench_model(name, device, args.threads, args.batches, args.compile, Path(tmp))
    machine = machine_record(str(device))
    header = f"{'model':<18} {'batch':>5} " + " ".join(
        f"{k:>21}" for k in ("eager", "torchscript", "onnxruntime", "torch.compile")
    )
    print(f"\ninference latency p50 / p99 ms on {machine['line']} (torch {torch.__version__})\n{header}   ORT/eager")
    for r in rows:
        cells = []
        for k in ("eager", "torchscript", "onnxruntime", "torch.compile"):
            v = r["runtimes"].get(k, {})
            cells.append(f"{v['p50_ms']:>9.3f} / {v['p99_ms']:>9.3f}" if "p50_ms" in v else f"{'-':>21}")
        print(
            f"{r['model']:<18} {r['batch']:>5} "
            + " ".join(cells)
            + f"   {r['ort_vs_eager']:.2f}x ({r['ort_provider']})"
        )
    out = args.out or RESULTS / f"inference-{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"machine": machine, "torch": torch.__version__, "threads": args.threads, "rows": rows}, indent=2)
    )
    print(f"\nwritten {out}")


if __name__ == "__main__":
    main()
