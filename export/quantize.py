"""``zoo-export --quantize int8``: an int8 ONNX model beside the fp32 one, accuracy-checked and timed.

Which int8 a part gets follows from its graph:

- with convolutions (``Conv``, ``ConvTranspose``): **static QDQ** (per-channel int8 weights, uint8
  activations), calibrated on real inputs: training-split samples of the weights' dataset, or for inputs no
  dataset holds (a generator's noise, a decoder's code) the part's own input distribution;
- with only matrix products (``MatMul``, ``Gemm``, ``LSTM``, ``GRU``): **dynamic** int8 (weights int8,
  activations quantised per call), which needs no calibration;
- anything else (nothing int8 would speed up), or a CNN with no calibration data at hand: refused, with
  the reason, as a :class:`QuantizeError`.

Before quantising, the graph's recorded shapes are dropped and ORT's pre-processing (shape inference,
graph optimisation) runs. The calibration method, sample count and any nodes kept in float are chosen per
model family by measurement (``benchmarks/int8.py``; :data:`PLANS`). The int8 model is then measured on
the whole test split beside fp32 (accuracy for classifiers and taggers, the outputs' relative error
otherwise) and timed at batch 1 and 64; an accuracy drop past :data:`MAX_DROP` is an error unless
``allow_drop``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from zoo.errors import ZooError
from zoo.weights import sha256_file as sha256

from .parity import chunks, draw, draws_from_data, inputs_from, recipe_dataset, source_dataset
from .source import Source, load_source

CONV_OPS = frozenset({"Conv", "ConvTranspose"})
DYNAMIC_OPS = ("MatMul", "Gemm", "LSTM", "GRU", "Attention")
#: The largest accuracy drop (a fraction: 0.01 is one point) accepted without ``allow_drop``.
MAX_DROP = 0.01
METHODS = ("minmax", "entropy", "percentile")
LATENCY_BATCHES = (1, 64)


class QuantizeError(ZooError):
    """int8 does not apply to a part, cannot be calibrated, or loses too much; the message says which."""


@dataclass(frozen=True)
class Plan:
    """How a family's convolutional parts are quantised (static QDQ)."""

    method: str = "minmax"  # minmax | entropy | percentile (ORT's CalibrationMethod)
    samples: int = 256  # calibration samples
    keep_float: tuple[str, ...] = ()  # "first" and/or "last": that compute node stays in float
    why: str = "ORT's default calibration; no family measurement yet"

    def describe(self) -> str:
        kept = f", {' and '.join(self.keep_float)} layer kept in float" if self.keep_float else ""
        return f"static QDQ int8 (per-channel int8 weights, uint8 activations; {self.method} calibration on {self.samples} samples{kept})"


#: Per model family, chosen by ``benchmarks/int8.py`` (figures in benchmarks/results/int8-cpu.json).
PLANS: dict[str, Plan] = {}
DEFAULT_PLAN = Plan()


def plan_for(model: str, **overrides: Any) -> Plan:
    plan = PLANS.get(model, DEFAULT_PLAN)
    given = {k: v for k, v in overrides.items() if v is not None}
    if "method" in given and given["method"] not in METHODS:
        raise QuantizeError(f"calibration method {given['method']!r}: choose one of {', '.join(METHODS)}")
    if "keep_float" in given:
        given["keep_float"] = tuple(given["keep_float"])
        bad = set(given["keep_float"]) - {"first", "last"}
        if bad:
            raise QuantizeError(f"keep_float {sorted(bad)}: only 'first' and 'last' can be kept in float")
    return replace(plan, **given, why="given on the command line") if given else plan


# --------------------------------------------------------------------------- ONNX Runtime helpers


def session(path: Path, threads: int = 2) -> Any:
    """A CPU ORT session with ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def latency_ms(sess: Any, inputs: Sequence[np.ndarray], repeats: int = 20, budget_s: float = 10.0) -> float:
    """Median wall time of one call (ms), after warm-up; fewer repeats when calls are slow."""
    feed = dict(zip([i.name for i in sess.get_inputs()], inputs))
    for _ in range(2):
        sess.run(None, feed)
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < repeats and (len(times) < 3 or time.perf_counter() - start < budget_s):
        t0 = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t0)
    return round(float(np.median(times)) * 1000, 3)


def run_batched(sess: Any, inputs: Sequence[torch.Tensor], batch: int = 500) -> np.ndarray:
    """The first output of ``sess`` over ``inputs``, ``batch`` samples per call (:func:`export.parity.chunks`)."""
    names = [i.name for i in sess.get_inputs()]
    return np.concatenate([sess.run(None, dict(zip(names, c)))[0] for c in chunks(inputs, batch)])


class _Reader:
    """ORT calibration reader over preprocessed arrays."""

    def __init__(self, names: list[str], inputs: Sequence[np.ndarray], batch: int = 32) -> None:
        n = len(inputs[0])
        self.batches = iter([{k: a[i : i + batch] for k, a in zip(names, inputs)} for i in range(0, n, batch)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.batches, None)


def op_types(path: Path) -> set[str]:
    import onnx

    return {n.op_type for n in onnx.load(str(path), load_external_data=False).graph.node}


def prepare(fp32: Path, prepared: Path) -> None:
    """Drop recorded intermediate shapes (the dynamo exporter records some that ORT's quantiser's own shape
    inference contradicts), then run ORT's quantisation pre-processing."""
    import onnx
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(fp32))
    del model.graph.value_info[:]
    onnx.save(model, str(prepared))
    try:
        quant_pre_process(str(prepared), str(prepared))
    except Exception:
        quant_pre_process(str(prepared), str(prepared), skip_symbolic_shape=True)


def _compute_nodes(path: Path) -> list[str]:
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type in CONV_OPS or n.op_type in ("Gemm", "MatMul")]


def quantize_static_qdq(prepared: Path, int8: Path, names: list[str], inputs: Sequence[np.ndarray], plan: Plan) -> None:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    method = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }[plan.method]
    nodes = _compute_nodes(prepared)
    exclude = ([nodes[0]] if "first" in plan.keep_float and nodes else []) + (
        [nodes[-1]] if "last" in plan.keep_float and nodes else []
    )
    quantize_static(
        str(prepared),
        str(int8),
        _Reader(names, inputs),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        weight_type=QuantType.QInt8,
        activation_type=QuantType.QUInt8,
        calibrate_method=method,
        nodes_to_exclude=exclude,
        extra_options={"CalibMaxIntermediateOutputs": 64},
    )


def quantize_dynamic_int8(prepared: Path, int8: Path, ops: set[str]) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(prepared),
        str(int8),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=[op for op in DYNAMIC_OPS if op in ops],
    )


# --------------------------------------------------------------------------- data


def _dataset(src: Source, data_dir: Path | None) -> tuple[Any, str]:
    """The source's dataset, or for fresh random weights the dataset of the model's default weights."""
    if src.checkpoint is not None:
        return source_dataset(src, data_dir)
    from training.recipes import get_recipe
    from zoo.weights import default_weights

    w = default_weights(src.name)
    if w is None:
        return None, f"{src.name} has no weights entry naming its dataset"
    recipe = w.card["training"]["recipe"]
    return recipe_dataset(recipe, (w.card.get("dataset") or {}).get("name") or get_recipe(recipe).dataset, data_dir)


def calibration_inputs(part: Any, src: Source, bundle: Any, why: str, n: int) -> tuple[list[np.ndarray], str]:
    """``n`` real calibration inputs for ``part`` and where they came from, or QuantizeError."""
    if draws_from_data(part):
        if bundle is None:
            raise QuantizeError(
                f"{src.name} {part.name}: static int8 needs calibration inputs from its training data: "
                f"{why}; give --data-dir or set ZOO_DATA_DIR"
            )
        inputs = inputs_from(part, bundle.train, src.preprocessing, n)
        assert inputs is not None
        return [t.numpy() for t in inputs], f"{len(inputs[0])} training samples (a seeded draw across the split)"
    drawn = part.example_inputs({"batch": n}, seed=4242)
    names = ", ".join(t.name for t in part.inputs)
    return [t.numpy() for t in drawn], f"{n} draws of its own input ({names}) distribution"


# --------------------------------------------------------------------------- quality and speed


def quality(
    task: str, part_name: str, fp32_out: np.ndarray, int8_out: np.ndarray, y: torch.Tensor | None
) -> dict[str, Any]:
    """int8 beside fp32 on the same inputs: accuracy for classifiers and taggers, else relative output error."""
    rel = float(np.linalg.norm(fp32_out - int8_out)) / max(float(np.linalg.norm(fp32_out)), 1e-12)
    result: dict[str, Any] = {"samples": int(len(fp32_out)), "output_rel_error": round(rel, 6)}
    if y is not None and part_name == "model" and task in ("image-classification", "classification", "tagging"):
        labels = y[: len(fp32_out)].numpy()
        if fp32_out.shape[-1] == 1:  # one output: P(class 1) (logistic regression)
            labels = labels.reshape(len(labels), -1)[:, 0].round()
            a, b = (fp32_out[:, 0] > 0.5).astype(labels.dtype), (int8_out[:, 0] > 0.5).astype(labels.dtype)
        else:
            a, b = fp32_out.argmax(-1), int8_out.argmax(-1)
        keep = labels != -100
        result.update(
            {
                "fp32_accuracy": float((a == labels)[keep].mean()),
                "int8_accuracy": float((b == labels)[keep].mean()),
                "argmax_agree": float((a == b)[keep].mean()),
            }
        )
        result["drop"] = round(result["fp32_accuracy"] - result["int8_accuracy"], 6)
    return result


def speed(fp32: Any, int8: Any, part: Any) -> dict[str, Any]:
    table: dict[str, Any] = {"threads": 2}
    for b in LATENCY_BATCHES:
        example = [t.numpy() for t in part.example_inputs({"batch": b}, seed=7)]
        f, q = latency_ms(fp32, example), latency_ms(int8, example)
        table[f"batch{b}"] = {"fp32_ms": f, "int8_ms": q, "speedup": round(f / q, 3) if q else None}
    return table


# --------------------------------------------------------------------------- entry point


def _quality_on(
    s32: Any, s8: Any, src: Source, name: str, bundle: Any, why: str, eval_samples: int | None
) -> dict[str, Any]:
    """fp32 against int8 sessions on ``eval_samples`` of the test split (all where None; the train split where the
    data has no test split), or on draws of the part's own input distribution where it takes no data."""
    part = src.spec.part(name)
    test = None if bundle is None else (bundle.test if bundle.test is not None else bundle.train)
    if test is not None:
        test = draw(test, eval_samples)  # the labels below are those of the same draw
    inputs_t = inputs_from(part, test, src.preprocessing, None) if test is not None and draws_from_data(part) else None
    if inputs_t is not None and all(t.shape[0] == inputs_t[0].shape[0] for t in inputs_t):
        split = "test" if bundle.test is not None else "train"
        measured = quality(
            src.task, name, run_batched(s32, inputs_t), run_batched(s8, inputs_t), test.get("y") if test else None
        )
        measured["split"] = (
            f"the whole {split} split of {why}"
            if eval_samples is None
            else f"{len(inputs_t[0])} samples of the {split} split of {why} (a seeded draw across the split)"
        )
        return measured
    drawn = part.example_inputs({"batch": eval_samples or 512}, seed=99)
    measured = quality(src.task, name, run_batched(s32, drawn), run_batched(s8, drawn), None)
    measured["split"] = f"{len(drawn[0])} draws of its input distribution"
    return measured


def quantize_part(
    out: Path,
    name: str,
    entry: dict[str, Any],
    src: Source,
    bundle: Any,
    why: str,
    plan: Plan,
    log: Callable[[str], None],
    eval_samples: int | None = None,
    timing: bool = True,
    also_subset: int | None = None,
) -> dict[str, Any]:
    """Write ``<part>.int8.onnx`` for one exported part and return its record (QuantizeError when refused).

    Its ``quality`` is measured on ``eval_samples`` of the test split (all where None); ``also_subset`` measures the
    same int8 file again on that many (``quality_subset``), without quantising twice."""
    onnx_info = entry["artifacts"].get("onnx")
    label = f"{src.name} {name}"
    if onnx_info is None:
        raise QuantizeError(f"{label}: no ONNX artifact to quantise; export with --format onnx or all")
    if onnx_info.get("external_data"):
        raise QuantizeError(
            f"{label}: its ONNX file keeps its weights outside (over 2 GiB); int8 is not offered for it"
        )
    fp32 = out / onnx_info["file"]
    ops = op_types(fp32)
    part = src.spec.part(name)
    int8 = out / f"{name}.int8.onnx"
    prepared = out / f".{name}.prep.onnx"
    if ops & CONV_OPS:
        inputs, came_from = calibration_inputs(part, src, bundle, why, plan.samples)
        method = plan.describe().replace(f"on {plan.samples} samples", f"on {came_from}")
        kind = "static"
    elif any(op in ops for op in DYNAMIC_OPS):
        method, kind = f"dynamic int8 (int8 weights of {', '.join(op for op in DYNAMIC_OPS if op in ops)})", "dynamic"
    else:
        raise QuantizeError(
            f"{label}: its graph has no convolution or matrix product ({', '.join(sorted(ops))}); "
            "int8 would not speed it up"
        )
    log(f"{name}: {method} ...")
    s32 = session(fp32)
    try:
        prepare(fp32, prepared)
        if kind == "static":
            quantize_static_qdq(prepared, int8, [i.name for i in s32.get_inputs()], inputs, plan)
        else:
            quantize_dynamic_int8(prepared, int8, ops)
    finally:
        prepared.unlink(missing_ok=True)
        for extra in out.glob(f".{name}.prep*"):
            extra.unlink()
    result: dict[str, Any] = {
        "file": int8.name,
        "sha256": sha256(int8),
        "method": method,
        "kind": kind,
        "plan": asdict(plan) if kind == "static" else None,
        "size_bytes": {"fp32": fp32.stat().st_size, "int8": int8.stat().st_size},
    }
    s8 = session(int8)
    result["quality"] = _quality_on(s32, s8, src, name, bundle, why, eval_samples)
    if also_subset is not None and eval_samples != also_subset:  # the same int8 file on a seeded draw too
        result["quality_subset"] = _quality_on(s32, s8, src, name, bundle, why, also_subset)
    if timing:
        result["latency_ms"] = speed(s32, s8, part)
    return result


def quantize_export(
    out_dir: str | Path,
    data_dir: Path | None = None,
    log: Callable[[str], None] = print,
    allow_drop: bool = False,
    parts: Sequence[str] | None = None,
    eval_samples: int | None = None,
    timing: bool = True,
    also_subset: int | None = None,
    **plan_overrides: Any,
) -> dict[str, Any]:
    """Quantise every exported part of ``out_dir`` (or ``parts``) to int8 and record each in ``export.json``.

    A part that int8 does not apply to is recorded as refused, with why; QuantizeError is raised when every
    part was refused, or when one loses more than :data:`MAX_DROP` accuracy (unless ``allow_drop``: the
    rejected int8 file is then removed and the measurement recorded).
    """
    out = Path(out_dir)
    record = json.loads((out / "export.json").read_text())
    source = record["source"]
    src = load_source(
        source["path"] if source["kind"] == "checkpoint" else source["name"],
        random_weights=source["kind"] == "registry",
    )
    plan = plan_for(src.name, **plan_overrides)
    bundle, why = _dataset(src, data_dir)
    errors, refused, done = [], [], 0
    for name, entry in record["parts"].items():
        if parts and name not in parts:
            continue
        try:
            result = quantize_part(out, name, entry, src, bundle, why, plan, log, eval_samples, timing, also_subset)
        except QuantizeError as e:
            entry["quantized"] = {"refused": str(e)}
            refused.append(str(e))
            log(f"{name}: not quantised: {e}")
            continue
        drop = result["quality"].get("drop")
        if drop is not None and drop > MAX_DROP and not allow_drop:
            (out / result["file"]).unlink()
            msg = (
                f"{src.name} {name}: int8 accuracy {result['quality']['int8_accuracy']:.4f} is {drop * 100:.2f} points "
                f"below fp32's {result['quality']['fp32_accuracy']:.4f} (more than {MAX_DROP * 100:.0f}); not kept. "
                "Try another --calibration, or accept it with --allow-drop"
            )
            entry["quantized"] = {"refused": msg, "measured": result}
            errors.append(msg)
            continue
        entry["quantized"] = result
        done += 1
        q, lat = result["quality"], result.get("latency_ms")
        acc = (
            f"accuracy {q['fp32_accuracy']:.4f} → {q['int8_accuracy']:.4f}"
            if "int8_accuracy" in q
            else f"output relative error {q['output_rel_error']:.4f}"
        )
        fast = (
            (
                f", batch 64 {lat['batch64']['fp32_ms']:.2f} → {lat['batch64']['int8_ms']:.2f} ms "
                f"({lat['batch64']['speedup']:.2f}x)"
            )
            if lat
            else ""
        )
        log(f"{name}: int8 {acc}{fast}, {result['size_bytes']['fp32']:,} → {result['size_bytes']['int8']:,} bytes")
    (out / "export.json").write_text(json.dumps(record, indent=2, default=str))
    if errors or not done:
        raise QuantizeError("; ".join(errors or refused))
    return record
