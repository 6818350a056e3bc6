"""``zoo-export --quantize int8``: an int8 ONNX model next to the fp32 one, with the accuracy,
size and speed change measured (on real data when the dataset is at hand).

Image models with data at hand get static QDQ quantisation (per-channel int8 weights, activations
calibrated on 256 training images); others get dynamic quantisation (int8 weights of MatMul/Gemm/LSTM).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .core import load_source, sha256
from .parity import inputs_from, source_dataset


def _session(path: Path, threads: int = 2) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _latency_ms(session: Any, inputs: list[np.ndarray], repeats: int = 30) -> float:
    names = [i.name for i in session.get_inputs()]
    feed = dict(zip(names, inputs))
    for _ in range(3):
        session.run(None, feed)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        session.run(None, feed)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 3)


class _Reader:
    """onnxruntime calibration reader over preprocessed arrays."""

    def __init__(self, names: list[str], inputs: list[np.ndarray], batch: int = 32) -> None:
        self.batches = iter([{n: a[i : i + batch] for n, a in zip(names, inputs)} for i in range(0, len(inputs[0]), batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def quantize_export(out_dir: str | Path, data_dir: Path | None = None, log: Callable[[str], None] = print) -> dict[str, Any]:
    from onnxruntime.quantization import (
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    out = Path(out_dir)
    record = json.loads((out / "export.json").read_text())
    source = record["source"]
    src = load_source(source["path"] if source["kind"] == "checkpoint" else source["name"],
                      random_weights=source["kind"] == "registry")
    bundle, _ = source_dataset(src, data_dir)
    train = bundle.train if bundle is not None else None
    test = (bundle.test if bundle.test is not None else bundle.train) if bundle is not None else None
    for name, entry in record["parts"].items():
        onnx_info = entry["artifacts"].get("onnx")
        if onnx_info is None or onnx_info.get("external_data"):
            continue
        fp32 = out / onnx_info["file"]
        int8 = out / f"{name}.int8.onnx"
        part = src.spec.part(name)
        calibration = inputs_from(part, train, src.preprocessing, 256) if train is not None else None
        session = _session(fp32)
        input_names = [i.name for i in session.get_inputs()]
        if calibration is not None and part.inputs[0].name == "image":
            log(f"{name}: static int8 quantisation (QDQ, per-channel, 256 calibration images) ...")
            prepared = out / f".{name}.prep.onnx"
            quant_pre_process(str(fp32), str(prepared))
            quantize_static(str(prepared), str(int8), _Reader(input_names, [c.numpy() for c in calibration]),
                            quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                            activation_type=QuantType.QUInt8)
            prepared.unlink()
            method = "static QDQ int8 (per-channel weights, uint8 activations, 256 calibration images)"
        else:
            log(f"{name}: dynamic int8 quantisation ...")
            quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
            method = "dynamic int8 (weights of MatMul/Gemm/LSTM)"
        q_session = _session(int8)
        example = [t.numpy() for t in part.example_inputs({"batch": 1})]
        example32 = [t.numpy() for t in part.example_inputs({"batch": 32})]
        result: dict[str, Any] = {
            "file": int8.name, "sha256": sha256(int8), "method": method,
            "size_bytes": {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
            "latency_ms_cpu_2_threads": {
                "fp32_batch1": _latency_ms(session, example), "int8_batch1": _latency_ms(q_session, example),
                "fp32_batch32": _latency_ms(session, example32), "int8_batch32": _latency_ms(q_session, example32),
            },
        }
        if test is not None:
            inputs = inputs_from(part, test, src.preprocessing, 2000)
            if inputs is not None:
                feed = [t.numpy() for t in inputs]
                a = np.concatenate([session.run(None, dict(zip(input_names, [f[i : i + 500] for f in feed])))[0]
                                    for i in range(0, len(feed[0]), 500)])
                b = np.concatenate([q_session.run(None, dict(zip(input_names, [f[i : i + 500] for f in feed])))[0]
                                    for i in range(0, len(feed[0]), 500)])
                quality: dict[str, Any] = {"samples": int(len(a)), "max_abs_diff": float(np.abs(a - b).max())}
                if src.task == "image-classification" and name == "model":
                    y = test["y"][: len(a)].numpy()
                    quality.update({"fp32_accuracy": float((a.argmax(1) == y).mean()),
                                    "int8_accuracy": float((b.argmax(1) == y).mean()),
                                    "argmax_agree": float((a.argmax(1) == b.argmax(1)).mean())})
                result["real_data"] = quality
        entry["quantized"] = result
        log(f"{name}: int8 {result}")
    (out / "export.json").write_text(json.dumps(record, indent=2, default=str))
    return record
