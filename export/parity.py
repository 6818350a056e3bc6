"""Parity: eager PyTorch vs TorchScript vs onnxruntime vs ExportedProgram, output by output.

Cases: the spec's example inputs at batch 1 and at an odd batch (3), a second length for every
sequence axis, and real test samples when the source's dataset is at hand (classifiers must then
agree on the argmax of every sample). The cases and eager outputs are saved beside the artifacts
(``<part>.parity.npz``) so that ``zoo-export --check DIR`` can re-verify an export on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

import zoo
from training.checkpoint import dataset_options

if TYPE_CHECKING:
    from .source import Source

ATOL, RTOL = 1e-4, 1e-3
#: Real samples kept in the .npz for ``--check`` (all of them are checked at export time).
KEEP_REAL = 64
Runner = Callable[[Sequence[np.ndarray]], list[np.ndarray]]


def compare(reference: Sequence[np.ndarray], got: Sequence[np.ndarray], names: Sequence[str]) -> dict[str, Any]:
    """Max abs / max rel error per output and whether all are within ``atol + rtol·|ref|``."""
    outputs = {}
    ok = True
    for name, ref, val in zip(names, reference, got):
        ref = np.asarray(ref, dtype=np.float64)
        val = np.asarray(val, dtype=np.float64)
        if ref.shape != val.shape:
            outputs[name] = {"ok": False, "error": f"shape {list(val.shape)} != {list(ref.shape)}"}
            ok = False
            continue
        diff = np.abs(ref - val)
        big = np.abs(ref) > ATOL
        within = bool(np.all(diff <= ATOL + RTOL * np.abs(ref))) and bool(np.all(np.isfinite(val)))
        outputs[name] = {
            "max_abs": float(diff.max()) if diff.size else 0.0,
            "max_rel": float((diff[big] / np.abs(ref[big])).max()) if big.any() else 0.0,
            "ok": within,
        }
        ok = ok and within
    return {"ok": ok, "outputs": outputs}


def runners(out_dir: Path, artifacts: dict[str, Any]) -> dict[str, Runner]:
    """Callables that run each saved artifact on NumPy inputs and return NumPy outputs."""
    run: dict[str, Runner] = {}

    def torch_runner(module: Any) -> Runner:
        def call(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
            with torch.no_grad():
                out = module(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs])
            return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

        return call

    if "torchscript" in artifacts:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            run["torchscript"] = torch_runner(torch.jit.load(str(out_dir / artifacts["torchscript"]["file"])).eval())
    if "onnx" in artifacts:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        session = ort.InferenceSession(
            str(out_dir / artifacts["onnx"]["file"]), options, providers=["CPUExecutionProvider"]
        )
        names = [i.name for i in session.get_inputs()]
        run["onnxruntime"] = lambda inputs: session.run(None, dict(zip(names, inputs)))
    if "exported" in artifacts:
        program = torch.export.load(str(out_dir / artifacts["exported"]["file"]))
        run["exported"] = torch_runner(program.module())
    return run


def synthetic_cases(part: zoo.Part) -> list[tuple[str, dict[str, int], tuple[torch.Tensor, ...]]]:
    """Batch 1, an odd batch, and each sequence axis at a second length."""
    cases = [
        ("batch1", {"batch": 1}, part.example_inputs({"batch": 1}, seed=11)),
        ("batch3", {"batch": 3}, part.example_inputs({"batch": 3}, seed=12)),
    ]
    defaults: dict[str, Any] = {}
    for t in part.inputs:
        for axis, name in t.dynamic.items():
            defaults.setdefault(name, t.shape[axis])
    for name, size in defaults.items():
        if name != "batch":
            sizes = {"batch": 3, name: int(size) + 3}
            cases.append((f"{name}{int(size) + 3}", sizes, part.example_inputs(sizes, seed=13)))
    return cases


#: Input names that real dataset tensors can fill (others, like GAN noise, cannot).
DATA_INPUTS = frozenset({"image", "context", "words", "chars", "x", "h0"})


def draws_from_data(part: zoo.Part) -> bool:
    return {t.name for t in part.inputs} <= DATA_INPUTS


def source_dataset(src: Source, data_dir: Path | None) -> tuple[Any, str]:
    """The source checkpoint's dataset (a ``DataBundle``), or (None, why not)."""
    if src.checkpoint is None:
        return None, "registry source (no dataset)"
    return recipe_dataset(
        src.checkpoint["recipe"], src.checkpoint["dataset"], data_dir, dataset_options(src.checkpoint)
    )


def recipe_dataset(
    recipe: str, dataset: str, data_dir: Path | None, options: dict[str, Any] | None = None
) -> tuple[Any, str]:
    """``dataset`` loaded with ``options`` (default: ``recipe``'s dataset options) (a ``DataBundle``, its name), or
    (None, why not)."""
    from training.data import DataNotFoundError, load_dataset
    from training.recipes import get_recipe

    try:
        bundle = load_dataset(
            dataset, data_dir, **(options if options is not None else get_recipe(recipe).dataset_options)
        )
    except (DataNotFoundError, ValueError) as e:
        return None, f"dataset not at hand ({str(e).splitlines()[0]})"
    return bundle, dataset


def draw(tensors: dict[str, torch.Tensor], limit: int | None) -> dict[str, torch.Tensor]:
    """At most ``limit`` samples of a split: a seeded random draw across the whole split (every class of a
    class-ordered folder in it), never its first ``limit``; the whole split when ``limit`` is None or larger."""
    from training.data import random_subset

    return random_subset(tensors, limit, seed=0) if limit else tensors


def inputs_from(
    part: zoo.Part, tensors: dict[str, torch.Tensor], preprocessing: dict[str, Any] | None, limit: int | None
) -> tuple[torch.Tensor, ...] | None:
    """Model inputs for ``part`` built from dataset tensors (preprocessed as in training), or None; ``limit``
    samples are a seeded draw across the split (:func:`draw`)."""
    from training.transforms import ImageTransform

    if not draws_from_data(part):
        return None
    tensors = draw(tensors, limit)
    n = len(next(iter(tensors.values())))
    out: list[torch.Tensor] = []
    for t in part.inputs:
        if t.name == "image":
            pre = preprocessing or {}
            transform = ImageTransform(pre.get("mean", [0.0]), pre.get("std", [1.0]), size=int(t.shape[-1]))
            out.append(
                torch.cat([transform.images(tensors["x"][i : min(i + 1000, n)], None) for i in range(0, n, 1000)])
            )
        elif t.name in ("context", "x"):
            out.append(tensors["x"][:n].float() if t.dtype == "float32" else tensors["x"][:n])
        elif t.name in ("words", "chars"):
            out.append(tensors[t.name][:n])
        elif t.name == "h0":
            out.append(torch.zeros(int(t.shape[0]), out[0].shape[0], int(t.shape[2])))
    return tuple(out)


def real_inputs(
    part: zoo.Part, src: Source, data_dir: Path | None, limit: int | None
) -> tuple[tuple[torch.Tensor, ...] | None, str, int | None]:
    """Test-split inputs for this part from the source's dataset, or (None, why not); and how many classes the
    samples drawn span (None where the data has no class labels)."""
    if not draws_from_data(part):
        return None, f"inputs {[t.name for t in part.inputs]} are not drawn from data", None
    bundle, why = source_dataset(src, data_dir)
    if bundle is None:
        return None, why, None
    split = "test" if bundle.test is not None else "train"
    tensors = bundle.test if bundle.test is not None else bundle.train
    inputs = inputs_from(part, tensors, src.preprocessing, limit)
    assert inputs is not None
    labels = draw(tensors, limit).get("y")
    classes = int(torch.unique(labels).numel()) if labels is not None and labels.dim() == 1 else None
    drawn = " (a seeded draw across the split)" if limit and inputs[0].shape[0] == limit else ""
    return inputs, f"{inputs[0].shape[0]} samples from the {split} split of {why}{drawn}", classes


def chunks(inputs: Sequence[torch.Tensor], size: int) -> list[list[np.ndarray]]:
    """The inputs as NumPy, ``size`` samples per chunk (one chunk when an input's batch is not on axis 0)."""
    n = inputs[0].shape[0]
    batch_axis_0 = all(t.shape[0] == n for t in inputs)
    if not batch_axis_0:  # e.g. (x, h0) with the batch on axis 1 of h0: one chunk
        return [[t.numpy() for t in inputs]]
    return [[t[i : i + size].numpy() for t in inputs] for i in range(0, n, size)]


def check_part(
    module: nn.Module,
    part: zoo.Part,
    out_dir: Path,
    artifacts: dict[str, Any],
    src: Source,
    real_samples: int | None,
    data_dir: Path | None,
) -> dict[str, Any]:
    """Run every case through eager and every artifact; save the cases for ``--check``."""
    run = runners(out_dir, artifacts)
    output_names = [t.name for t in part.outputs]
    static = set(artifacts.get("exported", {}).get("static_axes", []))
    saved: dict[str, np.ndarray] = {}
    report: dict[str, Any] = {"tolerance": {"atol": ATOL, "rtol": RTOL}, "cases": {}}
    passed = True

    def eager(inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in inputs])
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    for name, sizes, inputs in synthetic_cases(part):
        arrays = [t.numpy() for t in inputs]
        reference = eager(arrays)
        case: dict[str, Any] = {"shapes": [list(a.shape) for a in arrays]}
        for runtime, call in run.items():
            if runtime == "exported" and any(k in static for k in sizes if k != "batch"):
                case[runtime] = {
                    "ok": True,
                    "skipped": f"axes {sorted(static)} are static in the torch.export artifact",
                }
                continue
            case[runtime] = compare(reference, call(arrays), output_names)
            passed = passed and case[runtime]["ok"]
        report["cases"][name] = case
        for i, a in enumerate(arrays):
            saved[f"{name}/in{i}"] = a
        for i, r in enumerate(reference):
            saved[f"{name}/out{i}"] = r

    real, why, classes = real_inputs(part, src, data_dir, real_samples)
    report["real_samples"] = why
    if classes is not None:
        report["real_classes"] = classes
    if real is not None:
        classify = src.task in ("image-classification", "language-model") and part.name == "model"
        case = {"samples": int(real[0].shape[0]) if real[0].dim() else 1}
        pieces = chunks(real, 500)

        def joined(results: list[list[np.ndarray]]) -> list[np.ndarray]:
            return [np.concatenate([r[i] for r in results]) for i in range(len(results[0]))]

        reference = joined([eager(c) for c in pieces])
        for runtime, call in run.items():
            got = joined([call(c) for c in pieces])
            entry = compare(reference, got, output_names)
            if classify:
                agree = int((reference[0].argmax(-1) == got[0].argmax(-1)).sum())
                entry["argmax_agree"] = f"{agree}/{reference[0].shape[0]}"
                entry["ok"] = entry["ok"] and agree == reference[0].shape[0]
            case[runtime] = entry
            passed = passed and entry["ok"]
        report["cases"]["real"] = case
        # the first KEEP_REAL samples, cut along each input's own batch axis (the RNN's h0 has it on axis 1)
        n = int(real[0].shape[0])
        keep = [
            np.take(a, range(min(KEEP_REAL, n)), axis=spec.batch_axis)
            if spec.batch_axis is not None and a.shape[spec.batch_axis] == n
            else a
            for spec, a in zip(part.inputs, [t.numpy() for t in real])
        ]
        for i, a in enumerate(keep):
            saved[f"real/in{i}"] = a
        for i, r in enumerate(eager(keep)):
            saved[f"real/out{i}"] = r
    np.savez_compressed(out_dir / f"{part.name}.parity.npz", **saved)  # type: ignore[arg-type]  # numpy types **kwds as bool
    report["passed"] = passed
    return report


def recheck(out_dir: str | Path) -> dict[str, Any]:
    """Re-verify a saved export: artifact hashes match ``export.json`` and every artifact still
    reproduces the recorded eager outputs of the saved cases within tolerance."""
    from zoo.weights import sha256_file as sha256

    out_dir = Path(out_dir)
    record_path = out_dir / "export.json"
    if not record_path.is_file():
        raise FileNotFoundError(f"{out_dir} has no export.json; is it a zoo-export output folder?")
    record = json.loads(record_path.read_text())
    result: dict[str, Any] = {"passed": True, "parts": {}}
    for part_name, entry in record["parts"].items():
        part_report: dict[str, Any] = {"hashes": {}, "cases": {}}
        for fmt, art in entry["artifacts"].items():
            path = out_dir / art["file"]
            ok = path.is_file() and sha256(path) == art["sha256"]
            part_report["hashes"][fmt] = "ok" if ok else ("missing" if not path.is_file() else "changed")
            result["passed"] &= ok
        data = np.load(out_dir / f"{part_name}.parity.npz")
        static = set(entry["artifacts"].get("exported", {}).get("static_axes", []))
        run = runners(out_dir, {k: v for k, v in entry["artifacts"].items() if part_report["hashes"][k] == "ok"})
        cases = sorted({k.split("/")[0] for k in data.files})
        for case in cases:
            inputs = [data[f"{case}/in{i}"] for i in range(sum(1 for k in data.files if k.startswith(f"{case}/in")))]
            reference = [
                data[f"{case}/out{i}"] for i in range(sum(1 for k in data.files if k.startswith(f"{case}/out")))
            ]
            part_report["cases"][case] = {}
            for runtime, call in run.items():
                recorded = entry["parity"]["cases"].get(case, {}).get(runtime, {})
                if recorded.get("skipped") or (
                    runtime == "exported" and static and case not in ("batch1", "batch3", "real")
                ):
                    continue
                r = compare(reference, call(inputs), [t["name"] for t in entry["outputs"]])
                part_report["cases"][case][runtime] = r
                result["passed"] &= r["ok"]
        result["parts"][part_name] = part_report
    return result
