"""The engine-neutral request core: loads an exported artifact (onnxruntime or TorchScript), validates
every request, runs the valid ones as one batch, and answers the rest with a JSON 4xx error.

Runs inside a model server from an unpacked model archive and imports nothing from ``training``.
Engines are thin adapters over :meth:`ZooHandler.answer`: :mod:`.engine_torchserve` (TorchServe) and
:mod:`.engine_kserve` (KServe's model server, :mod:`.kserve_server`: Open Inference Protocol v2 and KServe v1). Task handlers
(:mod:`.tasks`) override :meth:`ZooHandler.parse` and :meth:`ZooHandler.respond`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from .validate import (
    RequestError,
    dumps_strict,
    excerpt,
    json_type,
    loads_strict,
    number_array,
    string,
    string_list,
)

__all__ = ["Answer", "RequestError", "Runtime", "ZooHandler", "decode_base64", "error_answer"]

logger = logging.getLogger(__name__)

#: Largest request body the handler accepts (``zoo-serve start --max-request-mb``); TorchServe's own
#: limit is set higher so that an oversized body still gets a JSON error that says so.
MAX_BODY_BYTES = int(float(os.environ.get("ZOO_MAX_REQUEST_MB", "8")) * 1024 * 1024)


class Runtime:
    """One exported artifact behind a NumPy-in, NumPy-out ``run``."""

    def __init__(self, path: Path, kind: str, gpu_id: int | None) -> None:
        self.kind = kind
        #: intra-op threads (``zoo-serve start`` sets CPUs // workers so workers do not oversubscribe)
        threads = int(os.environ.get("ZOO_THREADS", "0"))
        if kind in ("onnx", "onnx-int8"):  # the int8 model is an ONNX graph like any other
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.log_severity_level = 3
            if threads:
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
            providers: list[Any] = ["CPUExecutionProvider"]
            if gpu_id is not None and "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, ("CUDAExecutionProvider", {"device_id": gpu_id}))
            self.session = ort.InferenceSession(str(path), options, providers=providers)
            self.input_names = [i.name for i in self.session.get_inputs()]
            self.device = "cuda" if self.session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"
        elif kind == "torchscript":
            import warnings

            import torch

            self.torch = torch
            if threads:
                torch.set_num_threads(threads)
            self.device = f"cuda:{gpu_id}" if gpu_id is not None and torch.cuda.is_available() else "cpu"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                self.module = torch.jit.load(str(path), map_location=self.device).eval()
        else:
            raise ValueError(f"unknown runtime {kind!r} (onnx, onnx-int8 or torchscript)")

    def run(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.kind != "torchscript":
            return self.session.run(None, dict(zip(self.input_names, inputs)))
        torch = self.torch
        with torch.inference_mode():
            out = self.module(*[torch.from_numpy(np.ascontiguousarray(x)).to(self.device) for x in inputs])
        return [o.detach().cpu().numpy() for o in (out if isinstance(out, tuple) else (out,))]


#: The answer to a request whose outputs hold NaN or infinity.
NON_FINITE = "the model's output for this input is not finite (NaN or infinity): the input is outside what it handles"


class Answer(NamedTuple):
    """One request's answer, whatever the engine: its HTTP status, body, and the body as strict JSON."""

    status: int
    body: dict[str, Any]
    text: str


def error_answer(status: int, message: str, model: str | None = None) -> Answer:
    """The one JSON error format of every engine: ``{"error", "status", "model"}``."""
    body = {"error": message[:2000], "status": status, "model": model}
    return Answer(status, body, dumps_strict(body))


class ZooHandler:
    """Base handler. ``parse`` turns one request into model inputs (batch axis of 1, or n for
    generation) plus what ``respond`` needs to know of it; ``respond`` turns that request's slice
    of the outputs into a JSON-able dict."""

    #: Request fields a JSON body may carry (others → 422 "unknown field").
    fields: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.initialized = False

    # ------------------------------------------------------------------ set-up
    def setup(self, model_dir: Path, gpu_id: int | None = None) -> None:
        """Load ``serving.json`` + ``export.json`` and the artifact from ``model_dir``."""
        self.serving = json.loads((model_dir / "serving.json").read_text())
        self.record = json.loads((model_dir / "export.json").read_text())
        self.part_name = self.serving["part"]
        self.part = self.record["parts"][self.part_name]
        self.input_specs = self.part["inputs"]
        self.output_names = [t["name"] for t in self.part["outputs"]]
        self.labels = self.record.get("labels")
        self.preprocessing = self.record.get("preprocessing") or {}
        self.meta = self.record.get("meta") or {}
        self.model_name = self.serving["name"]
        if not type(self).fields:  # the generic tensor endpoint takes the part's input names
            self.fields = tuple(t["name"] for t in self.input_specs)
        self.runtime = Runtime(
            model_dir / self.serving["artifact"], self.serving["runtime"], None if gpu_id is None else int(gpu_id)
        )
        logger.info(
            "zoo handler %s: %s part %s on %s (%s)",
            type(self).__name__,
            self.record["model"]["name"],
            self.part_name,
            self.runtime.kind,
            self.runtime.device,
        )

    # ------------------------------------------------------------------ requests
    def read_body(self, raw: bytes | bytearray | str, content_type: str = "") -> Any:
        """A request body as the engine received it → parsed JSON (object or array), or the raw bytes/text.

        A body is JSON when its content type says so (``application/json``, ``*+json``) or, whatever the
        type, when it starts with ``{`` or ``[``; JSON is parsed strictly (:func:`.validate.loads_strict`).
        Bodies over ``ZOO_MAX_REQUEST_MB`` are a 413.
        """
        size = len(raw) if not isinstance(raw, str) else len(raw.encode("utf-8", "surrogatepass"))
        if size > MAX_BODY_BYTES:
            raise RequestError(
                f"payload of {size:,} bytes is over this server's limit of {MAX_BODY_BYTES:,} bytes", 413
            )
        head = raw.lstrip()[:1]
        media = content_type.split(";")[0].strip().lower()
        if media == "application/json" or media.endswith("+json") or head in (b"{", b"[", "{", "["):
            return loads_strict(bytes(raw) if isinstance(raw, bytearray) else raw)
        return bytes(raw) if isinstance(raw, bytearray) else raw

    def json_object(self, payload: Any, required: Sequence[str] = ()) -> dict[str, Any]:
        """A JSON object with only known fields and all required ones."""
        if isinstance(payload, (bytes, str)):
            raise RequestError(f"expected a JSON object with fields {list(self.fields)}")
        if not isinstance(payload, dict):
            raise RequestError(
                f"expected a JSON object with fields {list(self.fields)}, got a JSON {json_type(payload)}"
            )
        unknown = [k for k in payload if k not in self.fields]
        if unknown:
            quoted = ", ".join(excerpt(k) for k in unknown[:3]) + (
                f" and {len(unknown) - 3:,} more" if len(unknown) > 3 else ""
            )
            raise RequestError(f"unknown field(s) {quoted}; this endpoint takes {list(self.fields)}", 422)
        missing = [f for f in required if f not in payload]
        if missing:
            raise RequestError(f"missing field(s) {missing}", 422)
        return payload

    def words(self, payload: Any, list_field: str, text_field: str, max_words: int) -> list[str]:
        """Words from a text body, ``{text_field: "..."}`` or ``{list_field: [...]}``; at most ``max_words``."""
        if isinstance(payload, (bytes, str)):
            if isinstance(payload, bytes):
                try:
                    payload = payload.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise RequestError(f"the text body is not UTF-8 (byte {e.start})") from None
            words = payload.split()
        else:
            obj = self.json_object(payload)
            if (list_field in obj) == (text_field in obj):
                raise RequestError(
                    f"send exactly one of {text_field!r} (a string) or {list_field!r} (an array of words)", 422
                )
            if list_field in obj:
                return string_list(obj, list_field, max_words)
            words = str(string(obj, text_field)).split()
        if len(words) > max_words:
            raise RequestError(f"at most {max_words} words, got {len(words):,}", 422)
        return words

    def array(self, value: Any, name: str, shape: Sequence[int | None], dtype: str = "float32") -> np.ndarray:
        """A JSON array checked against ``shape`` (None = any length), for finite numbers within ``dtype``."""
        return number_array(value, name, shape, dtype)

    def parse(self, payload: Any) -> tuple[list[np.ndarray], dict[str, Any]]:
        """Default: a JSON object whose keys are the part's input names (without the batch axis)."""
        obj = self.json_object(payload, required=self.fields)
        inputs = []
        for spec in self.input_specs:
            batch_axis = _batch_axis(spec)
            shape = [
                None if str(i) in spec["dynamic_axes"] else d for i, d in enumerate(spec["shape"]) if i != batch_axis
            ]
            arr = self.array(obj[spec["name"]], spec["name"], shape, "int64" if spec["dtype"] == "int64" else "float32")
            inputs.append(np.expand_dims(arr, batch_axis))
        return inputs, {}

    def respond(self, info: dict[str, Any], outputs: list[np.ndarray]) -> dict[str, Any]:
        result: dict[str, Any] = {"model": self.model_name}
        for name, o, spec in zip(self.output_names, outputs, self.part["outputs"]):
            result[name] = _squeeze(o, spec).tolist()
        return result

    # ------------------------------------------------------------------ batching
    def run_batch(self, items: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
        """Run parsed requests; those whose inputs have equal shapes (but for the batch axis)
        share one model call, and each gets its slice of the outputs back."""
        if len(items) == 1:  # the common unbatched case: no grouping, stacking or slicing
            return [self.runtime.run(items[0])]
        in_axes = [_batch_axis(s) for s in self.input_specs]
        out_axes = [_batch_axis(s) for s in self.part["outputs"]]
        groups: dict[tuple, list[int]] = {}
        for i, inputs in enumerate(items):
            key = tuple(a.shape[:ax] + a.shape[ax + 1 :] for a, ax in zip(inputs, in_axes))
            groups.setdefault(key, []).append(i)
        results: list[list[np.ndarray]] = [[] for _ in items]
        for indices in groups.values():
            sizes = [items[i][0].shape[in_axes[0]] for i in indices]
            stacked = [np.concatenate([items[i][k] for i in indices], axis=ax) for k, ax in enumerate(in_axes)]
            outputs = self.runtime.run(stacked)
            offsets = np.cumsum([0, *sizes])
            for j, i in enumerate(indices):
                results[i] = [
                    np.take(o, np.arange(offsets[j], offsets[j + 1]), axis=ax) for o, ax in zip(outputs, out_axes)
                ]
        return results

    def answer(self, payloads: Sequence[Any]) -> list[Answer]:
        """The engine-neutral entry: decoded payloads (what :meth:`read_body` returns, or a parsed JSON value;
        a :class:`RequestError` stands for a body the engine could not decode) → one :class:`Answer` each.
        Bad requests get a 4xx answer and never an exception; the valid ones share one model call."""
        answers: list[Answer | None] = [None] * len(payloads)
        infos: dict[int, dict[str, Any]] = {}
        parsed: dict[int, list[np.ndarray]] = {}
        for i, payload in enumerate(payloads):
            try:
                if isinstance(payload, RequestError):
                    raise payload
                parsed[i], infos[i] = self.parse(payload)
            except RequestError as e:
                answers[i] = self.failure(e.status, str(e))
            except Exception as e:  # a bug: never let one request take the batch (or the worker) down
                logger.exception("unexpected error parsing request %d", i)
                answers[i] = self.failure(
                    500, f"the handler failed on this request ({type(e).__name__}); the server log has the details"
                )
        if parsed:
            order = sorted(parsed)
            try:
                outputs = self.run_batch([parsed[i] for i in order])
            except Exception as e:
                logger.exception("inference failed")
                for i in order:
                    answers[i] = self.failure(500, f"inference failed: {type(e).__name__}")
            else:
                for i, out in zip(order, outputs):
                    try:
                        answers[i] = self.success(self.respond(infos[i], out))
                    except RequestError as e:
                        answers[i] = self.failure(e.status, str(e))
        return [a for a in answers if a is not None]

    def success(self, body: dict[str, Any]) -> Answer:
        """A 200 answer; one that would hold NaN or Infinity becomes a 422 that says so."""
        try:
            return Answer(200, body, dumps_strict(body))
        except ValueError:
            return self.failure(422, NON_FINITE)

    def failure(self, status: int, message: str) -> Answer:
        """A JSON error answer for this model (:func:`error_answer`)."""
        return error_answer(status, message, getattr(self, "model_name", None))

    def describe(self) -> dict[str, Any]:
        return {
            "model": self.model_name,
            "zoo_model": self.record["model"]["name"],
            "task": self.record["model"]["task"],
            "part": self.part_name,
            "runtime": self.runtime.kind,
            "device": self.runtime.device,
            "worker_pid": os.getpid(),
            "handler": type(self).__name__,
            "inputs": self.input_specs,
            "outputs": self.part["outputs"],
            "labels": self.labels,
            "preprocessing": self.preprocessing,
            "weights": self.record.get("weights"),
        }


def _batch_axis(spec: dict[str, Any]) -> int:
    for axis, name in spec.get("dynamic_axes", {}).items():
        if name == "batch":
            return int(axis)
    return 0


def _squeeze(array: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    axis = _batch_axis(spec)
    return np.take(array, 0, axis=axis) if array.shape[axis] == 1 else array


def decode_base64(value: Any, name: str) -> bytes:
    if not isinstance(value, str):
        raise RequestError(f"{name!r} must be a base64 string, got a JSON {json_type(value)}", 422)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError(f"{name!r} is not valid base64") from None
