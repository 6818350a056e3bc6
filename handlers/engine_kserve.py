"""KServe adapter over the request core: zoo models on KServe's own model server (``kserve.Model``,
``kserve.ModelServer``), speaking the Open Inference Protocol (v2, REST and gRPC) and KServe v1.

    python -m handlers.engine_kserve --model-dir DIR [--model-dir DIR ...] [--host 127.0.0.1]
        [--http-port 8080] [--grpc-port 8081] [--workers N] [--max-request-mb 8] [--key-file key_file.json]

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
with the message). With ``--key-file`` every call but health, readiness and metrics needs
``Authorization: Bearer <inference key>`` (gRPC: the same metadata).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import hmac
import json
import logging
import logging.config
import os
import tempfile
import uuid
import warnings
from collections.abc import Sequence
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from fastapi.exceptions import RequestValidationError
from grpc import aio
from grpc_interceptor import AsyncExceptionToStatusInterceptor
from grpc_interceptor.exceptions import GrpcException
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady, UnsupportedProtocol
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.server import GRPCServer
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.multiprocess.server import RESTServerMultiProcess
from kserve.protocol.rest.server import RESTServer
from starlette.responses import Response

from . import base
from .base import NON_FINITE, Answer, RequestError, ZooHandler, error_answer
from .logfiles import log_config
from .tasks import load_handler
from .v2_binary import HEADER, check_binary_request
from .validate import excerpt

logger = logging.getLogger(__name__)

#: export.json dtypes → Open Inference Protocol datatypes.
DATATYPES = {"float32": "FP32", "float64": "FP64", "float16": "FP16", "int64": "INT64", "int32": "INT32",
             "int8": "INT8", "uint8": "UINT8", "bool": "BOOL"}
#: Most requests one v1 call (instances) or one v2 call of request fields may carry.
MAX_BATCH = 64
#: Paths open without the key: what Kubernetes probes and Prometheus call.
OPEN_PATHS = ("/", "/metrics", "/v2/health/live", "/v2/health/ready")
GRPC_OPEN_METHODS = ("/ServerLive", "/ServerReady", "/ModelReady")
GRPC_CODES = {400: grpc.StatusCode.INVALID_ARGUMENT, 401: grpc.StatusCode.UNAUTHENTICATED,
              404: grpc.StatusCode.NOT_FOUND, 413: grpc.StatusCode.RESOURCE_EXHAUSTED,
              422: grpc.StatusCode.INVALID_ARGUMENT, 500: grpc.StatusCode.INTERNAL}


class RequestFailed(GrpcException):
    """A request the core refused: REST answers its status and JSON body, gRPC aborts with the matching code."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        super().__init__(details=answer.body["error"], status_code=GRPC_CODES.get(answer.status, grpc.StatusCode.UNKNOWN))


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
    async def predict(self, payload: Any, headers: dict[str, str] | None = None,
                      response_headers: dict[str, str] | None = None) -> Any:
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
            raise RequestFailed(core.failure(400, 'a v1 request is {"instances": [request, ...]}, each request a JSON '
                                                  "object as the model's TorchServe endpoint takes it (or send one "
                                                  "raw body: PNG/JPEG bytes, or text)"))
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
            raise RequestFailed(core.failure(400, f"unknown input(s) {', '.join(map(repr, unknown[:5]))}: this model takes "
                                                  f"the tensors {tensor_names} or the request fields {list(core.fields)}"))
        return self._infer_fields(request)

    def _infer_tensors(self, request: InferRequest) -> InferResponse:
        core = self.core
        given = {i.name: i for i in request.inputs}
        arrays = []
        for spec in core.input_specs:
            tensor = given[spec["name"]]
            want = _tensor_metadata(spec)
            if tensor.datatype != want["datatype"]:
                raise RequestFailed(core.failure(400, f"input {spec['name']!r} is {want['datatype']} in this model, "
                                                      f"got {tensor.datatype}"))
            shape = [int(d) for d in tensor.shape]
            if len(shape) != len(want["shape"]) or any(d < 1 or (w != -1 and d != w) for d, w in zip(shape, want["shape"])):
                raise RequestFailed(core.failure(400, f"input {spec['name']!r} has shape {shape}; this model takes "
                                                      f"{want['shape']} (-1: any size)"))
            try:
                array = tensor.as_numpy()
            except Exception:  # data that do not fill the shape, or are not numbers of the datatype
                raise RequestFailed(core.failure(400, f"input {spec['name']!r}: its data are not {int(np.prod(shape)):,} "
                                                      f"{want['datatype']} values for shape {shape}")) from None
            if array.dtype.kind == "f" and not np.isfinite(array).all():
                raise RequestFailed(core.failure(422, f"input {spec['name']!r} holds NaN or infinity"))
            arrays.append(np.ascontiguousarray(array))
        try:
            outputs = core.runtime.run(arrays)
        except Exception as e:  # e.g. an index past an embedding's vocabulary
            logger.warning("runtime refused a tensor request: %s", e)
            raise RequestFailed(core.failure(422, f"the runtime could not run these inputs ({type(e).__name__}): "
                                                  "check value ranges against the model's metadata")) from None
        if any(o.dtype.kind == "f" and not np.isfinite(o).all() for o in outputs):
            raise RequestFailed(core.failure(422, NON_FINITE))
        wanted = [o.name for o in request.request_outputs or []]
        missing = [n for n in wanted if n not in core.output_names]
        if missing:
            raise RequestFailed(core.failure(400, f"unknown output(s) {missing}; this model has {core.output_names}"))
        result = [_output(name, o, request) for name, o in zip(core.output_names, outputs) if not wanted or name in wanted]
        return InferResponse(request.id or str(uuid.uuid4()), self.name, result,
                             use_binary_outputs=request.use_binary_outputs, requested_outputs=request.request_outputs)

    def _infer_fields(self, request: InferRequest) -> InferResponse:
        core = self.core
        columns: dict[str, np.ndarray] = {}
        size = None
        for tensor in request.inputs:
            shape = [int(d) for d in tensor.shape]
            if not shape or shape[0] < 1:
                raise RequestFailed(core.failure(400, f"input {tensor.name!r}: request fields take a leading batch axis "
                                                      f"(shape [N, ...], one request per row), got {shape}"))
            if size is not None and shape[0] != size:
                raise RequestFailed(core.failure(400, f"inputs disagree on the batch size ({size} and {shape[0]})"))
            size = shape[0]
            try:
                columns[tensor.name] = tensor.as_numpy()
            except Exception:
                raise RequestFailed(core.failure(400, f"input {tensor.name!r}: its data do not fill shape {shape}")) from None
        size = size or 1  # no inputs: one request with every field at its default
        requests: list[Any] = []
        for i in range(size):
            try:
                requests.append({name: _field_value(name, column[i]) for name, column in columns.items()})
            except RequestError as e:
                requests.append(e)
        answers = self._answer_all(requests, "row")
        texts = np.array([a.text.encode() for a in answers], dtype=np.object_)
        return InferResponse(request.id or str(uuid.uuid4()), self.name, [_output("response", texts, request)],
                             use_binary_outputs=request.use_binary_outputs)

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
    return {"name": spec["name"], "datatype": DATATYPES.get(spec.get("dtype", "float32"), "FP32"),
            "shape": [-1 if str(i) in dynamic else int(d) for i, d in enumerate(spec["shape"])]}


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


# ---------------------------------------------------------------------------------------------- server
class _Guard:
    """ASGI middleware: the key (when set) and the body-size limit, both answered as JSON errors."""

    def __init__(self, app: Any, max_body: int, token: str | None) -> None:
        self.app, self.max_body, self.token = app, max_body, token

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        path = scope.get("path", "")
        if self.token and path not in OPEN_PATHS and not path.endswith("/ready"):
            given = headers.get(b"authorization", b"")
            if not hmac.compare_digest(given, b"Bearer " + self.token.encode()):
                return await _reply(send, 401, "missing or wrong access key: send 'Authorization: Bearer <inference key>' "
                                               "(the server's key_file.json)")
        if scope.get("method") in ("POST", "PUT"):
            length = headers.get(b"content-length")
            if length is None:
                return await _reply(send, 411, "send a Content-Length (chunked request bodies are not accepted)")
            if not length.isdigit() or int(length) > self.max_body:
                return await _reply(send, 413, f"payload of {length.decode(errors='replace')[:20]} bytes is over this "
                                               f"server's limit of {self.max_body:,} bytes")
            binary = headers.get(HEADER.lower().encode())
            if binary is not None and path.endswith("/infer"):  # KServe would parse it unchecked: check it here
                body = await _read_body(receive)
                try:
                    check_binary_request(body, binary)
                except RequestError as e:
                    refused("REST", path, str(e))
                    return await _reply(send, 400, str(e))
                return await self.app(scope, _replay(body, receive), send)
        return await self.app(scope, receive, send)


async def _read_body(receive: Any) -> bytes:
    """The whole request body (its Content-Length was checked against the limit)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Any) -> Any:
    """An ASGI ``receive`` that hands the app a body already read, then the connection's own events."""
    sent = False

    async def replay() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return await receive()  # e.g. the client's disconnect
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def refused(protocol: str, where: str, message: str) -> None:
    """One log line for a request this server refused (no traceback: the client's mistake, not a fault)."""
    logger.info("refused %s %s: %s", protocol, excerpt(where, 80), excerpt(message, 120))


async def _reply(send: Any, status: int, message: str) -> None:
    body = error_answer(status, message).text.encode()  # answered before any model is involved
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _failed(request: Any, exc: RequestFailed) -> Response:
    refused("REST", request.url.path, exc.answer.body["error"])
    return Response(exc.answer.text, status_code=exc.answer.status, media_type="application/json")


def _plain(status: int) -> Any:
    """A handler answering KServe's own errors (bad JSON, unknown model) in the core's format, without
    a traceback in the log for each one."""

    async def answer(request: Any, exc: Exception) -> Response:
        if isinstance(exc, RequestValidationError):
            first = (exc.errors() or [{}])[0]
            where = ".".join(str(p) for p in first.get("loc", ())[1:] if p not in ("InferenceRequest",))
            message = f"not an inference request: {first.get('msg', 'invalid')}" + (f" at {where}" if where else "")
        else:
            message = str(exc)
            if message.startswith("Unrecognized request format"):
                message += (" (KServe parses application/json and application/octet-stream bodies as JSON: send a raw "
                            "image as image/png or image/jpeg, text as text/plain)")
        refused("REST", request.url.path, message)
        return Response(error_answer(status, message[:500]).text, status_code=status, media_type="application/json")

    return answer


class _RESTServer(RESTServer):
    """KServe's REST server on our host, with the core's error answers, the size limit and the key."""

    def __init__(self, *args: Any, host: str, max_body: int, token: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = host
        self.max_body, self.token = max_body, token

    def _add_exception_handlers(self, app: Any) -> None:
        super()._add_exception_handlers(app)
        app.add_exception_handler(RequestFailed, _failed)
        app.add_exception_handler(RequestValidationError, _plain(400))
        app.add_exception_handler(InvalidInput, _plain(400))
        app.add_exception_handler(ModelNotFound, _plain(404))

    def _add_middlewares(self, app: Any) -> None:
        super()._add_middlewares(app)
        app.add_middleware(_Guard, max_body=self.max_body, token=self.token)


class _KeyInterceptor(aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}"

        async def deny(request: Any, context: Any) -> None:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong access key: send metadata "
                                                                 "'authorization: Bearer <inference key>'")

        self.deny = grpc.unary_unary_rpc_method_handler(deny)

    async def intercept_service(self, continuation: Any, details: Any) -> Any:
        if details.method.endswith(GRPC_OPEN_METHODS):
            return await continuation(details)
        given = dict(details.invocation_metadata or ()).get("authorization", "")
        if hmac.compare_digest(str(given), self.expected):
            return await continuation(details)
        return self.deny


class _StatusInterceptor(AsyncExceptionToStatusInterceptor):
    """KServe's exceptions and ours → gRPC status codes, logging one line for a refused call and a traceback only
    for a real fault (KServe's own interceptor logs a traceback for every client mistake)."""

    CODES = ((RequestFailed, None), (ModelNotFound, grpc.StatusCode.NOT_FOUND),
             ((InvalidInput, InferenceError, UnsupportedProtocol), grpc.StatusCode.INVALID_ARGUMENT),
             (ModelNotReady, grpc.StatusCode.UNAVAILABLE), (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED))

    async def handle_exception(self, ex: Exception, request_or_iterator: Any, context: Any, method_name: str) -> Any:
        for kinds, code in self.CODES:
            if isinstance(ex, kinds):
                message = ex.details if isinstance(ex, RequestFailed) else (getattr(ex, "reason", None) or str(ex))
                refused("gRPC", method_name, str(message))
                if isinstance(ex, GrpcException):
                    return await super().handle_exception(ex, request_or_iterator, context, method_name)
                await context.abort(code, str(message)[:1000])
        if isinstance(ex, GrpcException):  # raised on purpose, with its own code
            return await super().handle_exception(ex, request_or_iterator, context, method_name)
        logger.error("internal error in %s", method_name, exc_info=True)
        await context.abort(grpc.StatusCode.INTERNAL, "internal server error (see the server log)")


class _GRPCServer(GRPCServer):
    """KServe's gRPC server on our host (not every interface), quiet per call, with the key."""

    def __init__(self, *args: Any, host: str, token: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.host, self.token = host, token

    async def start(self, max_workers: int) -> None:
        interceptors = ([_KeyInterceptor(self.token)] if self.token else []) + [_StatusInterceptor()]
        limit = int(self._kwargs["max_message_bytes"])
        self._server = aio.server(futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=interceptors,
                                  options=[("grpc.max_send_message_length", 4 * limit),
                                           ("grpc.max_receive_message_length", limit)])
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self._data_plane, self._model_repository_extension), self._server)
        self._server.add_insecure_port(f"{self.host}:{self._port}")
        await self._server.start()
        await self._server.wait_for_termination()


class ZooModelServer(ModelServer):
    """``kserve.ModelServer`` bound to ``host`` (KServe binds every interface), with a request-size limit
    on REST and gRPC and an optional access key."""

    def __init__(self, host: str = "127.0.0.1", max_request_bytes: int = 8 << 20, token: str | None = None,
                 log_config_file: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.host, self.max_request_bytes, self.token = host, max_request_bytes, token
        self.log_config_file = log_config_file
        self.dataplane = ZooDataPlane(model_registry=self.registered_models)  # public: KServe's own class, extended

    def start(self, models: list[Any]) -> None:
        self._register_and_check_atleast_one_model_is_ready(models)
        rest: dict[str, Any] = dict(host=self.host, max_body=self.max_request_bytes, token=self.token)
        args = (FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension, self.http_port)
        options: dict[str, Any] = dict(workers=self.workers, grace_period=self.grace_period,
                                       timeout_keep_alive=self.timeout_keep_alive)
        if self.workers > 1:
            self._rest_multiprocess_server = RESTServerMultiProcess(*args, **options, log_config_file=self.log_config_file)
            self._rest_multiprocess_server._rest_server = _RESTServer(*args, **options, **rest)
            self.servers.append(self._rest_multiprocess_server.start())
        else:
            self._rest_server = _RESTServer(*args, **options, **rest)
            self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = _GRPCServer(self.grpc_port, self.dataplane, self.model_repository_extension,
                                            kwargs={"max_message_bytes": self.max_request_bytes},
                                            grace_period=self.grace_period, host=self.host, token=self.token)
            self.servers.append(self._grpc_server.start(self.max_threads))
        self.setup_event_loop()
        self.register_signal_handler()
        asyncio.run(self._serve())


def read_key(path: Path) -> str:
    """The inference key of a key file as ``zoo-serve start`` (and TorchServe) write it."""
    try:
        return str(json.loads(path.read_text())["inference"]["key"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"cannot read the inference key from {path}: {e}") from None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m handlers.engine_kserve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-dir", action="append", required=True, type=Path, help="an unpacked zoo archive (repeatable)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 inside a container)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1, help="REST worker processes (gRPC runs in the main one)")
    parser.add_argument("--max-request-mb", type=float, default=float(os.environ.get("ZOO_MAX_REQUEST_MB", "8")))
    parser.add_argument("--key-file", type=Path, help="require this key file's inference key on every call")
    parser.add_argument("--gpu-id", type=int, default=None, help="run on this CUDA device when the runtime has one")
    parser.add_argument("--log-file", type=Path, help="log to this file, size-bounded and gzip-rotated (default: stderr)")
    parser.add_argument("--log-max-mb", type=float, default=100, help="rotate the log file at this size")
    parser.add_argument("--log-backups", type=int, default=5, help="gzipped older log files kept")
    parser.add_argument("--access-log", action="store_true",
                        help="an access line and timing lines per request (off: refusals and faults only)")
    args = parser.parse_args(argv)
    config = log_config(args.log_file, args.access_log, int(args.log_max_mb * 2**20), args.log_backups)
    config_file = (args.log_file.with_name("logging.json") if args.log_file else
                   Path(tempfile.gettempdir()) / f"zoo-kserve-logging-{os.getpid()}.json")
    config_file.write_text(json.dumps(config, indent=1))  # REST worker processes configure themselves from it
    logging.config.dictConfig(config)
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")  # KServe's own responses
    limit = int(args.max_request_mb * 1024 * 1024)
    os.environ["ZOO_MAX_REQUEST_MB"] = str(args.max_request_mb)  # worker processes read it when they import the core
    base.MAX_BODY_BYTES = limit
    token = read_key(args.key_file) if args.key_file else None
    models = [ZooModel(d, args.gpu_id) for d in args.model_dir]
    server = ZooModelServer(host=args.host, max_request_bytes=limit, token=token, http_port=args.http_port,
                            grpc_port=args.grpc_port, workers=args.workers, enable_latency_logging=args.access_log,
                            log_config_file=str(config_file))
    logger.info("serving %s on %s (HTTP %d, gRPC %d)", [m.name for m in models], args.host, args.http_port, args.grpc_port)
    server.start(models)


if __name__ == "__main__":  # run under the package's name, so that worker processes can unpickle its classes
    import importlib

    importlib.import_module(__spec__.name).main()
