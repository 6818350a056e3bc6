"""The KServe engine's server: KServe's model server around :class:`.engine_kserve.ZooModel`, bound to one
host, with a request-size limit, an optional access key and bounded logs.

    python -m handlers.kserve_server --model-dir DIR [--model-dir DIR ...] [--host 127.0.0.1]
        [--http-port 8080] [--grpc-port 8081] [--workers N] [--max-request-mb 8] [--key-file key_file.json]

With ``--key-file`` every call but health, readiness and metrics needs ``Authorization: Bearer <inference key>``
(gRPC: the same metadata). Refused requests are one log line each (REST: the core's JSON error body, as TorchServe
answers; gRPC: the matching status code).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import importlib
import inspect
import json
import logging
import logging.config
import os
import tempfile
import textwrap
import warnings
from collections.abc import Sequence
from concurrent import futures
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
from fastapi.exceptions import RequestValidationError
from grpc import aio
from grpc_interceptor import AsyncExceptionToStatusInterceptor
from grpc_interceptor.exceptions import GrpcException
from kserve import ModelServer
from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
from kserve.errors import InferenceError, InvalidInput, ModelNotFound, ModelNotReady, UnsupportedProtocol
from kserve.protocol.dataplane import DataPlane
from kserve.protocol.grpc import grpc_predict_v2_pb2_grpc
from kserve.protocol.grpc.servicer import InferenceServicer
from kserve.protocol.rest.multiprocess.server import RESTServerMultiProcess
from kserve.protocol.rest.server import RESTServer
from starlette.responses import Response

from . import base
from .base import RequestError, error_answer
from .engine_kserve import RequestFailed, ZooDataPlane, ZooModel
from .logfiles import log_config
from .v2_binary import HEADER, check_binary_request
from .validate import excerpt

logger = logging.getLogger(__name__)

#: Paths open without the key: what Kubernetes probes and Prometheus call.
OPEN_PATHS = ("/", "/metrics", "/v2/health/live", "/v2/health/ready")
GRPC_OPEN_METHODS = ("/ServerLive", "/ServerReady", "/ModelReady")


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
                return await _reply(
                    send,
                    401,
                    "missing or wrong access key: send 'Authorization: Bearer <inference key>' "
                    "(the server's key_file.json)",
                )
        if scope.get("method") in ("POST", "PUT"):
            length = headers.get(b"content-length")
            if length is None:
                return await _reply(send, 411, "send a Content-Length (chunked request bodies are not accepted)")
            if not length.isdigit() or int(length) > self.max_body:
                return await _reply(
                    send,
                    413,
                    f"payload of {length.decode(errors='replace')[:20]} bytes is over this "
                    f"server's limit of {self.max_body:,} bytes",
                )
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
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
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
                message += (
                    " (KServe parses application/json and application/octet-stream bodies as JSON: send a raw "
                    "image as image/png or image/jpeg, text as text/plain)"
                )
        refused("REST", request.url.path, message)
        return Response(error_answer(status, message[:500]).text, status_code=status, media_type="application/json")

    return answer


class _RESTServer(RESTServer):
    """KServe's REST server on our host, with the core's error answers, the size limit and the key (through
    RESTServer's own hooks for exception handlers and middlewares)."""

    def __init__(self, *args: Any, host: str, max_body: int, token: str | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config.host = host  # uvicorn's Config, which KServe builds for every interface
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


class _RESTServerMultiProcess(RESTServerMultiProcess):
    """KServe's REST worker processes, each running our :class:`_RESTServer` (pickled into the worker)."""

    def __init__(self, *args: Any, guard: dict[str, Any], log_config_file: str | None, **kwargs: Any) -> None:
        super().__init__(*args, log_config_file=log_config_file, **kwargs)
        self._rest_server = _RESTServer(*args, **kwargs, **guard)


class _KeyInterceptor(aio.ServerInterceptor):
    def __init__(self, token: str) -> None:
        self.expected = f"Bearer {token}"

        async def deny(request: Any, context: Any) -> None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong access key: send metadata 'authorization: Bearer <inference key>'",
            )

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

    CODES = (
        (RequestFailed, None),
        (ModelNotFound, grpc.StatusCode.NOT_FOUND),
        ((InvalidInput, InferenceError, UnsupportedProtocol), grpc.StatusCode.INVALID_ARGUMENT),
        (ModelNotReady, grpc.StatusCode.UNAVAILABLE),
        (NotImplementedError, grpc.StatusCode.UNIMPLEMENTED),
    )

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


class ZooGRPCServer:
    """The Open Inference Protocol over gRPC on our host, with the key and one log line per refused call.

    KServe's ``GRPCServer`` binds every interface with its own fixed interceptors and has no option for either, so
    this small server is ours: grpc's public ``aio.server`` with KServe's public ``InferenceServicer``."""

    def __init__(
        self,
        host: str,
        port: int,
        data_plane: DataPlane,
        model_repository_extension: Any,
        max_message_bytes: int,
        token: str | None,
        grace_period: int = 30,
    ) -> None:
        self.host, self.port, self.data_plane, self.extension = host, port, data_plane, model_repository_extension
        self.max_message_bytes, self.token, self.grace_period = max_message_bytes, token, grace_period
        self.server: Any = None

    async def start(self, max_workers: int) -> None:
        interceptors = ([_KeyInterceptor(self.token)] if self.token else []) + [_StatusInterceptor()]
        self.server = aio.server(
            futures.ThreadPoolExecutor(max_workers=max_workers),
            interceptors=interceptors,
            options=[
                ("grpc.max_send_message_length", 4 * self.max_message_bytes),
                ("grpc.max_receive_message_length", self.max_message_bytes),
            ],
        )
        grpc_predict_v2_pb2_grpc.add_GRPCInferenceServiceServicer_to_server(
            InferenceServicer(self.data_plane, self.extension), self.server
        )
        self.server.add_insecure_port(f"{self.host}:{self.port}")
        await self.server.start()
        await self.server.wait_for_termination()

    async def stop(self, sig: int | None = None) -> None:
        if self.server is not None:
            await self.server.stop(grace=self.grace_period)


#: The kserve releases this engine is tested with (setup.cfg's kserve extra pins the same range).
KSERVE_TESTED = ("0.21", "0.22")
#: KServe code that :meth:`ZooModelServer.start` follows (it builds the servers itself: ``ModelServer`` has no
#: option for the host, the size limit or the key), by the sha256 of its source. ``upstream_drift`` names what
#: changed in the installed kserve; a test fails on it, and the server logs a warning.
UPSTREAM = {
    "kserve.model_server.ModelServer.start": "16503a68f3c9c4b58791897fa901136e413ca4964bcbdbe5da29df7e42d2f227",
    "kserve.protocol.rest.server.RESTServer.__init__": "fd4434eb62f467e0a26a96a339220d4dc8f067bf0cf5a14339fdea82bf5dc394",
    "kserve.protocol.rest.multiprocess.server.RESTServerMultiProcess.__init__": "4d8c333024fa2c7f075595f4551edb6c2df82439a3fdca1896f423853c236b74",
    "kserve.protocol.grpc.server.GRPCServer.start": "9e051a0294b4a6cc3c09365a1155f2cf88914e3c62d9b56d7e7abcc03579d5b0",
}


def upstream_source(name: str) -> str:
    """The installed source of ``module.Class.method``, dedented."""
    module, cls, method = name.rsplit(".", 2)
    return textwrap.dedent(inspect.getsource(getattr(getattr(importlib.import_module(module), cls), method)))


def upstream_drift() -> list[str]:
    """The followed KServe functions whose installed source differs from the one this engine was written against."""
    return [
        name
        for name, digest in UPSTREAM.items()
        if hashlib.sha256(upstream_source(name).encode()).hexdigest() != digest
    ]


class ZooModelServer(ModelServer):
    """``kserve.ModelServer`` bound to ``host`` (KServe binds every interface), with a request-size limit
    on REST and gRPC and an optional access key."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        max_request_bytes: int = 8 << 20,
        token: str | None = None,
        log_config_file: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.host, self.max_request_bytes, self.token = host, max_request_bytes, token
        self.log_config_file = log_config_file
        self.dataplane = ZooDataPlane(model_registry=self.registered_models)  # public: KServe's own class, extended

    def start(self, models: list[Any]) -> None:
        """``ModelServer.start`` with our servers: the same steps and options (see ``UPSTREAM``)."""
        drift = upstream_drift()
        if drift:
            logger.warning(
                "kserve %s changed %s since this engine was written against kserve %s.x; it may not "
                "pass every option through",
                metadata.version("kserve"),
                ", ".join(drift),
                KSERVE_TESTED[0],
            )
        self._register_and_check_atleast_one_model_is_ready(models)
        args = (FASTAPI_APP_IMPORT_STRING, self.dataplane, self.model_repository_extension, self.http_port)
        options: dict[str, Any] = dict(
            access_log_format=self.access_log_format,
            workers=self.workers,
            grace_period=self.grace_period,
            event_loop=self.event_loop,
            timeout_keep_alive=self.timeout_keep_alive,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        guard: dict[str, Any] = dict(host=self.host, max_body=self.max_request_bytes, token=self.token)
        if self.workers > 1:
            self._rest_multiprocess_server = _RESTServerMultiProcess(
                *args, **options, guard=guard, log_config_file=self.log_config_file
            )
            self.servers.append(self._rest_multiprocess_server.start())
        else:
            self._rest_server = _RESTServer(*args, **options, **guard)
            self.servers.append(self._rest_server.start())
        if self.enable_grpc:
            self._grpc_server = ZooGRPCServer(
                self.host,
                self.grpc_port,
                self.dataplane,
                self.model_repository_extension,
                self.max_request_bytes,
                self.token,
                self.grace_period,
            )
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
    parser = argparse.ArgumentParser(
        prog="python -m handlers.kserve_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model-dir", action="append", required=True, type=Path, help="an unpacked zoo archive (repeatable)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 inside a container)")
    parser.add_argument("--http-port", type=int, default=8080)
    parser.add_argument("--grpc-port", type=int, default=8081)
    parser.add_argument("--workers", type=int, default=1, help="REST worker processes (gRPC runs in the main one)")
    parser.add_argument("--max-request-mb", type=float, default=float(os.environ.get("ZOO_MAX_REQUEST_MB", "8")))
    parser.add_argument("--key-file", type=Path, help="require this key file's inference key on every call")
    parser.add_argument("--gpu-id", type=int, default=None, help="run on this CUDA device when the runtime has one")
    parser.add_argument(
        "--log-file", type=Path, help="log to this file, size-bounded and gzip-rotated (default: stderr)"
    )
    parser.add_argument("--log-max-mb", type=float, default=100, help="rotate the log file at this size")
    parser.add_argument("--log-backups", type=int, default=5, help="gzipped older log files kept")
    parser.add_argument(
        "--access-log",
        action="store_true",
        help="an access line and timing lines per request (off: refusals and faults only)",
    )
    args = parser.parse_args(argv)
    config = log_config(args.log_file, args.access_log, int(args.log_max_mb * 2**20), args.log_backups)
    config_file = (
        args.log_file.with_name("logging.json")
        if args.log_file
        else Path(tempfile.gettempdir()) / f"zoo-kserve-logging-{os.getpid()}.json"
    )
    config_file.write_text(json.dumps(config, indent=1))  # REST worker processes configure themselves from it
    logging.config.dictConfig(config)
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated")  # KServe's own responses
    limit = int(args.max_request_mb * 1024 * 1024)
    os.environ["ZOO_MAX_REQUEST_MB"] = str(args.max_request_mb)  # worker processes read it when they import the core
    base.MAX_BODY_BYTES = limit
    token = read_key(args.key_file) if args.key_file else None
    models = [ZooModel(d, args.gpu_id) for d in args.model_dir]
    server = ZooModelServer(
        host=args.host,
        max_request_bytes=limit,
        token=token,
        http_port=args.http_port,
        grpc_port=args.grpc_port,
        workers=args.workers,
        enable_latency_logging=args.access_log,
        log_config_file=str(config_file),
    )
    logger.info(
        "serving %s on %s (HTTP %d, gRPC %d)", [m.name for m in models], args.host, args.http_port, args.grpc_port
    )
    server.start(models)


if __name__ == "__main__":  # run under the package's name, so that worker processes can unpickle its classes
    import importlib

    importlib.import_module(__spec__.name).main()
