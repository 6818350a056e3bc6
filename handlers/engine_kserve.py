"""KServe adapter over the request core: a zoo model as a ``kserve.Model`` (:class:`ZooModel`), speaking the
Open Inference Protocol (v2, REST and gRPC) and KServe v1. The server around it (binding, key, size limit, logging,
the command line) is :mod:`.kserve_server`.

A model directory is an unpacked zoo archive (``serving.json``, ``export.json``, the artifact). Inside a
container built by ``zoo-serve deploy`` the package is the archive's own copy, ``zoo_handlers``.

Requests, per protocol:

* v2 tensors: inputs named as the model's tensors (``GET /v2/models/NAME`` lists them, ``-1`` marking
  dynamic axes) with their datatype go straight to the runtime; the outputs come back as tensors.
* v2 request fields: inputs named as the fields of the zoo's JSON requests (``image`` as base64 or raw
  ``BYTES``, ``top_k``, ``sentence``, ``words``, ``n``, ``seed``, ...), with a leading batch axis; each
  element is one request, answered in the ``BYTES`` output ``response`` with the JSON TorchServe answers.
* v1: ``{"instances": [request, ...]}`` with each instance a JSON request as TorchServe's endpoint takes
  it, answered ``{"predictions": [answer, ...]}``; a non-JSON body (PNG bytes, plain text) is one request.

Bad requests get the core's 4xx (REST: the same JSON error body as TorchServe; gRPC: INVALID_ARGUMENT
with the message).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from grpc_interceptor.exceptions import GrpcException
from kserve import InferOutput, InferRequest, InferResponse, Model
from kserve.protocol.dataplane import DataPlane

from .base import NON_FINITE, Answer, RequestError, ZooHandler
from .tasks import load_handler

logger = logging.getLogger(__name__)

#: export.json dtypes → Open Inference Protocol datatypes.
DATATYPES = {
    "float32": "FP32",
    "float64": "FP64",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int8": "INT8",
    "uint8": "UINT8",
    "bool": "BOOL",
}
#: Most requests one v1 call (instances) or one v2 call of request fields may carry.
MAX_BATCH = 64
GRPC_CODES = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    404: grpc.StatusCode.NOT_FOUND,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    500: grpc.StatusCode.INTERNAL,
}


class RequestFailed(GrpcException):
    """A request the core refused: REST answers its status and JSON body, gRPC aborts with the matching code."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        super().__init__(
            details=answer.body["error"], status_code=GRPC_CODES.get(answer.status, grpc.StatusCode.UNKNOWN)
        )


#: Runtime kind → the v2 metadata's ``platform`` (Triton's names; int8 ONNX is marked as such).
PLATFORMS = {"onnx": "onnxruntime_onnx", "onnx-int8": "onnxruntime_onnx_int8", "torchscript": "pytorch_libtorch"}


class ZooDataPlane(DataPlane):
    """KServe's data plane, whose v2 model metadata names the model's runtime (KServe leaves ``platform`` empty)."""

    async def model_metadata(self, model_name: str) -> dict[str, Any]:
        metadata = await super().model_metadata(model_name)
        platform = getattr(self.get_model_from_registry(model_name), "platform", "")
        return {**metadata, "platform": platform or metadata.get("platform", "")}


class ZooModel(Model):
    """One unpacked zoo archive as a KServe model; every request goes through the shared core."""

    def __init__(self, model_dir: str | Path, gpu_id: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        serving = json.loads((self.model_dir / "serving.json").read_text())
        super().__init__(serving["name"], return_response_headers=True)
        self.gpu_id = gpu_id
        self.handler: ZooHandler | None = None
        self.load()

    def load(self) -> bool:
        self.handler = load_handler(self.model_dir, self.gpu_id)
        self.ready = True
        return True

    # worker processes (``--workers``) receive the model pickled: the runtime session is loaded again there
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["handler"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.load()

    # ------------------------------------------------------------------ metadata
    def get_input_types(self) -> list[dict[str, Any]]:
        return [_tensor_metadata(s) for s in self.core.input_specs]

    def get_output_types(self) -> list[dict[str, Any]]:
        return [_tensor_metadata(s) for s in self.core.part["outputs"]]

    @property
    def platform(self) -> str:
        """The v2 metadata's ``platform``: the served runtime, named as Triton names its backends."""
        return PLATFORMS.get(self.core.runtime.kind, self.core.runtime.kind)

    @property
    def core(self) -> ZooHandler:
        assert self.handler is not None, "model not loaded"
        return self.handler

    # ------------------------------------------------------------------ requests
    async def predict(
        self, payload: Any, headers: dict[str, str] | None = None, response_headers: dict[str, str] | None = None
    ) -> Any:
        loop = asyncio.get_running_loop()
        if isinstance(payload, InferRequest):
            return await loop.run_in_executor(None, self.infer_v2, payload)
        text = await loop.run_in_executor(None, self.predict_v1, payload, (headers or {}).get("content-type", ""))
        if response_headers is not None:
            response_headers["content-type"] = "application/json"
        return text

    def predict_v1(self, payload: Any, content_type: str = "") -> str:
        """KServe v1: ``{"instances": [...]}`` (JSON) or one raw body → ``{"predictions": [...]}`` as JSON text."""
        core = self.core
        if isinstance(payload, (bytes, bytearray, str)):  # KServe passes non-JSON bodies through raw
            try:
                requests: list[Any] = [core.read_body(payload, content_type)]
            except RequestError as e:
                raise RequestFailed(core.failure(e.status, str(e))) from None
        elif isinstance(payload, dict) and isinstance(payload.get("instances"), list) and set(payload) == {"instances"}:
            requests = payload["instances"]
        else:
            raise RequestFailed(
                core.failure(
                    400,
                    'a v1 request is {"instances": [request, ...]}, each request a JSON '
                    "object as the model's TorchServe endpoint takes it (or send one "
                    "raw body: PNG/JPEG bytes, or text)",
                )
            )
        answers = self._answer_all(requests, "instance")
        return '{"predictions":[' + ",".join(a.text for a in answers) + "]}"

    def infer_v2(self, request: InferRequest) -> InferResponse:
        """Open Inference Protocol v2: model tensors straight to the runtime, or the zoo's request fields."""
        core = self.core
        names = [i.name for i in request.inputs]
        if len(set(names)) != len(names):
            raise RequestFailed(core.failure(400, f"input names repeat: {names}"))
        tensor_names = [s["name"] for s in core.input_specs]
        if names and set(names) == set(tensor_names) and all(i.datatype != "BYTES" for i in request.inputs):
            return self._infer_tensors(request)
        unknown = [n for n in names if n not in core.fields]
        if unknown:
            raise RequestFailed(
                core.failure(
                    400,
                    f"unknown input(s) {', '.join(map(repr, unknown[:5]))}: this model takes "
                    f"the tensors {tensor_names} or the request fields {list(core.fields)}",
                )
            )
        return self._infer_fields(request)

    def _infer_tensors(self, request: InferRequest) -> InferResponse:
        core = self.core
        given = {i.name: i for i in request.inputs}
        arrays = []
        for spec in core.input_specs:
            tensor = given[spec["name"]]
            want = _tensor_metadata(spec)
            if tensor.datatype != want["datatype"]:
                raise RequestFailed(
                    core.failure(
                        400, f"input {spec['name']!r} is {want['datatype']} in this model, got {tensor.datatype}"
                    )
                )
            shape = [int(d) for d in tensor.shape]
            if len(shape) != len(want["shape"]) or any(
                d < 1 or (w != -1 and d != w) for d, w in zip(shape, want["shape"])
            ):
                raise RequestFailed(
                    core.failure(
                        400,
                        f"input {spec['name']!r} has shape {shape}; this model takes {want['shape']} (-1: any size)",
                    )
                )
            try:
                array = tensor.as_numpy()
            except Exception:  # data that do not fill the shape, or are not numbers of the datatype
                raise RequestFailed(
                    core.failure(
                        400,
                        f"input {spec['name']!r}: its data are not {int(np.prod(shape)):,} "
                        f"{want['datatype']} values for shape {shape}",
                    )
                ) from None
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise RequestFailed(core.failure(422, f"input {spec['name']!r} holds NaN or infinity"))
            arrays.append(np.ascontiguousarray(array))
        try:
            outputs = core.runtime.run(arrays)
        except Exception as e:  # e.g. an index past an embedding's vocabulary
            logger.warning("runtime refused a tensor request: %s", e)
            raise RequestFailed(
                core.failure(
                    422,
                    f"the runtime could not run these inputs ({type(e).__name__}): "
                    "check value ranges against the model's metadata",
                )
            ) from None
        if any(o.dtype.kind == "f" and not np.isfinite(o).all() for o in outputs):
            raise RequestFailed(core.failure(422, NON_FINITE))
        wanted = [o.name for o in request.request_outputs or []]
        missing = [n for n in wanted if n not in core.output_names]
        if missing:
            raise RequestFailed(core.failure(400, f"unknown output(s) {missing}; this model has {core.output_names}"))
        result = [
            _output(name, o, request) for name, o in zip(core.output_names, outputs) if not wanted or name in wanted
        ]
        return InferResponse(
            request.id or str(uuid.uuid4()),
            self.name,
            result,
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,
        )

    def _infer_fields(self, request: InferRequest) -> InferResponse:
        core = self.core
        columns: dict[str, np.ndarray] = {}
        size = None
        for tensor in request.inputs:
            shape = [int(d) for d in tensor.shape]
            if not shape or shape[0] < 1:
                raise RequestFailed(
                    core.failure(
                        400,
                        f"input {tensor.name!r}: request fields take a leading batch axis "
                        f"(shape [N, ...], one request per row), got {shape}",
                    )
                )
            if size is not None and shape[0] != size:
                raise RequestFailed(core.failure(400, f"inputs disagree on the batch size ({size} and {shape[0]})"))
            size = shape[0]
            try:
                columns[tensor.name] = tensor.as_numpy()
            except Exception:
                raise RequestFailed(
                    core.failure(400, f"input {tensor.name!r}: its data do not fill shape {shape}")
                ) from None
        size = size or 1  # no inputs: one request with every field at its default
        requests: list[Any] = []
        for i in range(size):
            try:
                requests.append({name: _field_value(name, column[i]) for name, column in columns.items()})
            except RequestError as e:
                requests.append(e)
        answers = self._answer_all(requests, "row")
        texts = np.array([a.text.encode() for a in answers], dtype=np.object_)
        return InferResponse(
            request.id or str(uuid.uuid4()),
            self.name,
            [_output("response", texts, request)],
            use_binary_outputs=request.use_binary_outputs,
        )

    def _answer_all(self, requests: Sequence[Any], what: str) -> list[Answer]:
        """Every request answered by the core; the first refused one fails the call, naming its position."""
        core = self.core
        if not requests:
            raise RequestFailed(core.failure(422, f"no {what}s: send at least one request"))
        if len(requests) > MAX_BATCH:
            raise RequestFailed(core.failure(413, f"{len(requests)} {what}s in one call; at most {MAX_BATCH}"))
        answers = core.answer(requests)
        for i, answer in enumerate(answers):
            if answer.status != 200:
                if len(answers) > 1:
                    answer = core.failure(answer.status, f"{what} {i}: {answer.body['error']}")
                raise RequestFailed(answer)
        return answers


def _tensor_metadata(spec: dict[str, Any]) -> dict[str, Any]:
    dynamic = {str(a) for a in spec.get("dynamic_axes", {})}
    return {
        "name": spec["name"],
        "datatype": DATATYPES.get(spec.get("dtype", "float32"), "FP32"),
        "shape": [-1 if str(i) in dynamic else int(d) for i, d in enumerate(spec["shape"])],
    }


def _output(name: str, array: np.ndarray, request: InferRequest) -> InferOutput:
    """An output tensor; gRPC gets its data set here (raw when the request was raw), REST serialises later."""
    datatype = "BYTES" if array.dtype == np.object_ else DATATYPES.get(array.dtype.name, "FP32")
    output = InferOutput(name, list(array.shape), datatype)
    if request.from_grpc:
        output.set_data_from_numpy(array, binary_data=request.use_binary_outputs)
    else:
        output.data = array
    return output


def _field_value(name: str, value: Any) -> Any:
    """One row of a v2 input as the JSON value the zoo's request field takes."""
    if isinstance(value, np.ndarray):
        return value.tolist() if value.dtype != np.object_ else [_field_value(name, v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (bytes, bytearray)):
        if name == "image":  # raw image bytes (gRPC, binary REST) or base64 text: the core takes base64
            try:
                base64.b64decode(value, validate=True)
                return bytes(value).decode("ascii")
            except (binascii.Error, ValueError):
                return base64.b64encode(bytes(value)).decode("ascii")
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError(f"input {name!r} is not UTF-8 text (byte {e.start})") from None
    return value
