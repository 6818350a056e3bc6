"""Export a checkpoint or a registry model to TorchScript, ONNX and torch.export, one artifact per part.

The one export path: for every deployable part of a model (``zoo.get_spec(name).parts``) write
``<part>.pt`` (TorchScript), ``<part>.onnx`` (self-contained) and ``<part>.pt2`` (ExportedProgram),
then prove that each computes what eager PyTorch computes (:mod:`export.parity`). ``export.json``
records sources, hashes, shapes, exporters, preprocessing, labels and the parity results.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from torch import nn

import zoo
from training.checkpoint import library_versions
from zoo.views import TestTimeViews, view_count
from zoo.weights import sha256_file as sha256

from .source import Source, load_source

FORMATS = ("torchscript", "onnx", "exported")
EXPORT_FORMAT = "torch-model-zoo/export"
#: Protobuf refuses messages over 2 GiB; bigger models keep their weights in a side file.
PROTOBUF_LIMIT = 2**31 - 1


def _as_tuple(out: Any) -> tuple[torch.Tensor, ...]:
    return out if isinstance(out, tuple) else (out,)


# --------------------------------------------------------------------------- TorchScript


def export_torchscript(module: nn.Module, part: zoo.Part, path: Path, extra_files: dict[str, str]) -> dict[str, Any]:
    """``torch.jit.script`` where it works, ``torch.jit.trace`` otherwise; labels etc. as extra files."""
    info: dict[str, Any] = {"file": path.name}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated upstream; still requested
        try:
            compiled = torch.jit.script(module)
            info["method"] = "script"
        except Exception as e:  # scripting is stricter than tracing: fall back, say why
            compiled = torch.jit.trace(module, part.example_inputs(), check_trace=False)
            info["method"] = "trace"
            info["why_not_script"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        torch.jit.save(compiled, str(path), _extra_files={k: v.encode() for k, v in extra_files.items()})
    info["sha256"] = sha256(path)
    return info


# --------------------------------------------------------------------------- torch.export


def export_program(module: nn.Module, part: zoo.Part, path: Path) -> dict[str, Any]:
    """``torch.export`` with every declared dynamic axis; where tracing specialises an axis (LSTMs
    unroll time), retry with the batch axis only and record which axes stayed static and why."""
    args = part.example_inputs()
    names = part.dynamic_names()
    with warnings.catch_warnings():
        # torch.export warns about nn.RNN/LSTM's own cached _flat_weights (an upstream internal).
        warnings.filterwarnings("ignore", message=r"The tensor attributes? .*_flat_weights", category=UserWarning)
        try:
            program = torch.export.export(module, args, dynamic_shapes=part.torch_export_dynamic_shapes())
            dynamic, reason = names, None
        except Exception as e:
            dynamic = [n for n in names if n == "batch"]
            program = torch.export.export(module, args, dynamic_shapes=part.torch_export_dynamic_shapes(dynamic))
            reason = f"{type(e).__name__}: {str(e).strip().splitlines()[0][:240]}"
    torch.export.save(program, str(path))
    info: dict[str, Any] = {
        "file": path.name,
        "dynamic_axes": dynamic,
        "static_axes": [n for n in names if n not in dynamic],
        "sha256": sha256(path),
    }
    if reason:
        info["why_static"] = reason
    return info


# --------------------------------------------------------------------------- ONNX


def onnx_dynamic_axes(part: zoo.Part) -> dict[str, dict[int, str]]:
    return {t.name: dict(t.dynamic) for t in part.inputs + part.outputs if t.dynamic}


def _opset(model_proto: Any) -> int | None:
    return next((o.version for o in model_proto.opset_import if o.domain in ("", "ai.onnx")), None)


def export_onnx(
    module: nn.Module, part: zoo.Part, path: Path, opset: int | None, metadata: dict[str, str]
) -> dict[str, Any]:
    """The dynamo exporter with every dynamic axis; the legacy (TorchScript-based) exporter only when
    the dynamo one fails or cannot keep an axis dynamic. One self-contained file under 2 GiB."""
    import onnx

    args = part.example_inputs()
    input_names = [t.name for t in part.inputs]
    output_names = [t.name for t in part.outputs]
    n_bytes = sum(p.numel() * p.element_size() for p in module.parameters()) + sum(
        b.numel() * b.element_size() for b in module.buffers()
    )
    external = n_bytes > PROTOBUF_LIMIT - (64 << 20)
    info: dict[str, Any] = {"file": path.name}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(
                module,
                args,
                None,
                dynamo=True,
                input_names=input_names,
                output_names=output_names,
                dynamic_shapes=part.torch_export_dynamic_shapes(),
                opset_version=opset,
                optimize=True,
                verbose=False,
            )
        info["exporter"] = "dynamo"
        model_proto = program.model_proto  # type: ignore[union-attr]
        static = _static_axes(model_proto, part)
        if static:
            raise ValueError(f"it made declared dynamic axes static: {', '.join(static)}")
        written = _opset(model_proto)
        if opset is not None and written != opset:  # the dynamo exporter writes >= 18 whatever it is asked
            raise ValueError(f"it wrote opset {written}, not the {opset} asked for")
    except Exception as e:
        info["exporter"] = "legacy"
        info["why_legacy"] = f"dynamo exporter: {type(e).__name__}: {str(e).strip().splitlines()[0][:240]}"
        tmp = path.with_suffix(".legacy.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the legacy exporter is deprecated upstream
            try:
                torch.onnx.export(
                    module,
                    args,
                    str(tmp),
                    dynamo=False,
                    input_names=input_names,
                    output_names=output_names,
                    dynamic_axes=onnx_dynamic_axes(part),
                    opset_version=opset or 17,
                    do_constant_folding=True,
                )
            except Exception as legacy_error:
                if opset is None:
                    raise
                raise ValueError(
                    f"opset {opset} cannot be written for {part.name}: {info['why_legacy']}; legacy "
                    f"exporter: {str(legacy_error).strip().splitlines()[-1][:200]}"
                ) from None
        model_proto = onnx.load(str(tmp))
        tmp.unlink()
        if opset is not None and _opset(model_proto) != opset:
            raise ValueError(
                f"opset {opset} cannot be written for {part.name}: the legacy exporter wrote "
                f"{_opset(model_proto)} ({info['why_legacy']})"
            ) from None
    del model_proto.metadata_props[:]
    onnx.helper.set_model_props(model_proto, metadata)
    if external:
        onnx.save_model(model_proto, str(path), save_as_external_data=True, location=path.name + ".data")
        onnx.checker.check_model(str(path))
        info["external_data"] = path.name + ".data"
    else:
        onnx.save_model(model_proto, str(path))
        onnx.checker.check_model(model_proto, full_check=True)
    info["opset"] = _opset(model_proto)
    info["dynamic_axes"] = {k: {str(a): n for a, n in v.items()} for k, v in onnx_dynamic_axes(part).items()}
    info["sha256"] = sha256(path)
    return info


def _static_axes(model_proto: Any, part: zoo.Part) -> list[str]:
    """Declared dynamic input axes that came out as fixed sizes in the ONNX graph."""
    graph_inputs = {i.name: i for i in model_proto.graph.input}
    static = []
    for t in part.inputs:
        dims = graph_inputs[t.name].type.tensor_type.shape.dim
        static += [f"{t.name}[{axis}]" for axis in t.dynamic if not dims[axis].dim_param]
    return static


# --------------------------------------------------------------------------- the whole export


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


def export(
    source: str | Path | Source,
    out_dir: str | Path,
    formats: Sequence[str] = FORMATS,
    opset: int | None = None,
    parts: Sequence[str] | None = None,
    real_samples: int | None = 256,
    data_dir: Path | None = None,
    model_kwargs: dict[str, Any] | None = None,
    log: Any = print,
    random_weights: bool = False,
    views: int = 0,
) -> dict[str, Any]:
    """Export every part of ``source`` in ``formats`` to ``out_dir`` and check parity.

    ``views`` (image classifiers: 1 two, 2 six) exports the classifier answering with its logits averaged over
    test-time views (:class:`zoo.views.TestTimeViews`), as ``zoo-eval --tta`` measures it, at that many times the
    compute. Returns the ``export.json`` content; ``result["passed"]`` tells whether every check passed.
    """
    from . import parity

    src = source if isinstance(source, Source) else load_source(source, model_kwargs, random_weights=random_weights)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    unknown = set(formats) - set(FORMATS)
    if unknown:
        raise ValueError(f"unknown format(s) {sorted(unknown)}; choose from {', '.join(FORMATS)} or all")
    model = src.model.eval().cpu()
    if views:
        if src.task != "image-classification" or (src.preprocessing or {}).get("kind") != "image":
            raise ValueError(f"test-time views are for image classifiers; {src.name} is a {src.task} model")
    selected = [p for p in src.spec.parts if parts is None or p.name in parts]
    if not selected:
        raise ValueError(f"{src.name} has no part {list(parts or [])}; parts: {[p.name for p in src.spec.parts]}")
    record: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "format_version": 1,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "source": src.description,
        "model": {"name": src.name, "kwargs": src.kwargs, "task": src.task},
        "weights": src.description.get("card"),
        "preprocessing": src.preprocessing,
        "labels": src.labels,
        "meta": src.meta,
        "versions": {**library_versions(), **_runtime_versions()},
        "formats": list(formats),
        **({"views": {"level": views, "count": view_count(views)}} if views else {}),
        "parts": {},
    }
    for part in selected:
        module = part.get(model)
        if views and part.name == "model":
            module = TestTimeViews(module, views).eval()
        entry: dict[str, Any] = part.to_dict()
        entry["artifacts"] = {}
        metadata = {
            "zoo.model": src.name,
            "zoo.part": part.name,
            "zoo.task": src.task,
            "zoo.labels": _json(src.labels),
            "zoo.preprocessing": _json(src.preprocessing),
            "zoo.meta": _json(src.meta),
            "zoo.inputs": _json([t.to_dict() for t in part.inputs]),
            "zoo.outputs": _json([t.to_dict() for t in part.outputs]),
            **({"zoo.views": str(view_count(views))} if views and part.name == "model" else {}),
        }
        if "torchscript" in formats:
            log(f"{part.name}: TorchScript ...")
            entry["artifacts"]["torchscript"] = export_torchscript(
                module,
                part,
                out / f"{part.name}.pt",
                {**{k.removeprefix("zoo.") + ".json": v for k, v in metadata.items()}},
            )
        if "onnx" in formats:
            log(f"{part.name}: ONNX ...")
            entry["artifacts"]["onnx"] = export_onnx(module, part, out / f"{part.name}.onnx", opset, metadata)
        if "exported" in formats:
            log(f"{part.name}: torch.export ...")
            entry["artifacts"]["exported"] = export_program(module, part, out / f"{part.name}.pt2")
        log(f"{part.name}: parity ...")
        entry["parity"] = parity.check_part(module, part, out, entry["artifacts"], src, real_samples, data_dir)
        record["parts"][part.name] = entry
    record["passed"] = all(p["parity"]["passed"] for p in record["parts"].values())
    (out / "export.json").write_text(json.dumps(record, indent=2, default=str))
    return record


def _runtime_versions() -> dict[str, str]:
    versions = {}
    for name in ("onnx", "onnxruntime", "onnxscript"):
        try:
            versions[name] = __import__(name).__version__
        except Exception:  # pragma: no cover - optional
            pass
    return versions
