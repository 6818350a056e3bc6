"""The KServe engine under hostile input: the binary tensor extension, arbitrary v2 JSON and arbitrary gRPC
``ModelInferRequest``s (Hypothesis, against a real ``zoo-serve start --engine kserve``) never reach a 5xx or
UNKNOWN/INTERNAL, each refusal logs one line and no traceback, and the engine's log stays bounded.

Like test_kserve.py, this process never imports ``kserve`` (its protobuf messages clash with tritonclient's)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import multiprocessing
import struct
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("kserve") is None:
    pytest.skip("the KServe engine is the kserve extra: pip install '.[kserve]'", allow_module_level=True)
import grpc
from conftest import digit_png
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import EXAMPLES
from tritonclient.grpc import service_pb2, service_pb2_grpc

from handlers.logfiles import BoundedFileHandler
from handlers.v2_binary import DATATYPES
from serving.client import Client
from serving.server import ServerConfig, free_port, start, stop

MODELS = ["classifier-onnx", "tagger-onnx", "rnn-onnx"]
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
OK_GRPC = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.UNAUTHENTICATED,
}


@pytest.fixture(scope="module")
def engine(model_archives, tmp_path_factory):
    root = tmp_path_factory.mktemp("kserve-hostile")
    cfg = ServerConfig(
        run_dir=root / "run",
        engine="kserve",
        store=model_archives["store"],
        models=MODELS,
        port=free_port(),
        grpc_port=free_port(),
        max_request_mb=1,
    )
    try:
        state = start(cfg, timeout_s=300, log=lambda m: None)
        key = json.loads(Path(state["key_file"]).read_text())["inference"]["key"]
        channel = grpc.insecure_channel(f"127.0.0.1:{cfg.grpc_port}")
        yield {
            "cfg": cfg,
            "client": Client.from_run_dir(cfg.run_dir),
            "log": cfg.run_dir / "logs" / "kserve.log",
            "stub": service_pb2_grpc.GRPCInferenceServiceStub(channel),
            "metadata": [("authorization", f"Bearer {key}")],
        }
        channel.close()
    finally:
        stop(cfg.run_dir, log=lambda m: None)


def _binary(engine, head: dict | bytes, payload: bytes, header: str | None = None, model: str = "classifier-onnx"):
    text = head if isinstance(head, bytes) else json.dumps(head).encode()
    body = text + payload
    headers = {
        "Content-Type": "application/octet-stream",
        "Inference-Header-Content-Length": str(len(text)) if header is None else header,
    }
    return engine["client"].request("POST", f"/v2/models/{model}/infer", body, headers)


def _image_head(size: int, shape=(1, 1, 28, 28), datatype="FP32") -> dict:
    return {
        "inputs": [
            {"name": "image", "shape": list(shape), "datatype": datatype, "parameters": {"binary_data_size": size}}
        ]
    }


def _log_lines(engine) -> list[str]:
    return engine["log"].read_text().splitlines()


def _assert_answer(code: int, body, where) -> None:
    assert code == 200 or 400 <= code < 500, (where, code, body)
    if code != 200:
        assert isinstance(body, dict) and isinstance(body.get("error"), str) and len(json.dumps(body)) < 2500, (
            where,
            body,
        )


def test_binary_extension_faults_are_400s_naming_what_is_wrong(engine):
    """The trial's three 500s, and every other way the parts of a binary request can fail to add up."""
    image = np.zeros((1, 1, 28, 28), np.float32).tobytes()
    code, good, _ = _binary(engine, _image_head(len(image)), image)
    assert code == 200 and good["outputs"][0]["name"] == "logits"
    before = len(_log_lines(engine))
    bytes_head = {
        "inputs": [{"name": "image", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 8}}]
    }
    cases = [  # (head, payload, header, words)
        (_image_head(len(image)), image, "abc", "whole number"),
        (_image_head(len(image)), image, "-5", "whole number"),
        (_image_head(len(image)), image, "99999", "the body holds"),
        (_image_head(len(image)), image, "0", "the body holds"),
        (_image_head(783 * 4), image[: 783 * 4], None, "3136 bytes, but binary_data_size is 3132"),
        (_image_head(10**12), image, None, "runs past the end"),
        (_image_head(-1), image, None, "whole number"),
        (_image_head(len(image)), image + b"extra", None, "after the last binary input"),
        (_image_head(len(image), datatype="FP99"), image, None, "datatype"),
        (_image_head(len(image), shape=(1, -1, 28, 28)), image, None, "shape"),
        ({"inputs": []}, image, None, "inputs"),
        (b"[1, 2", image, None, "not a JSON object"),
        (bytes_head, struct.pack("<I", 10) + b"abcd", None, "says 10 bytes"),
        (bytes_head, b"\x01\x00", None, "binary_data_size 8 runs past"),
    ]
    for head, payload, header, words in cases:
        code, body, _ = _binary(engine, head, payload, header)
        assert code == 400 and words in body["error"], (head, header, code, body)
    lines = _log_lines(engine)[before:]
    assert len(lines) == len(cases) and all(" refused REST " in ln for ln in lines), lines
    assert "Traceback" not in engine["log"].read_text()
    assert engine["client"].predict("classifier-onnx", digit_png(), "image/png")[0] == 200


def test_grpc_client_mistakes_log_one_line_and_no_traceback(engine):
    stub, metadata = engine["stub"], engine["metadata"]
    before = len(_log_lines(engine))
    unknown = service_pb2.ModelInferRequest(model_name="no-such-model")
    extra = service_pb2.ModelInferRequest(model_name="classifier-onnx")
    tensor = extra.inputs.add(name="image", datatype="FP32", shape=[1, 1, 28, 28])
    del tensor
    extra.raw_input_contents.extend([np.zeros(784, np.float32).tobytes(), b"one too many"])
    for request, code in ((unknown, grpc.StatusCode.NOT_FOUND), (extra, grpc.StatusCode.INVALID_ARGUMENT)):
        with pytest.raises(grpc.RpcError) as err:
            stub.ModelInfer(request, metadata=metadata)
        assert err.value.code() == code
    lines = _log_lines(engine)[before:]
    assert len(lines) == 2 and all(" refused gRPC " in ln for ln in lines), lines
    assert "Traceback" not in engine["log"].read_text()


def test_no_line_per_answered_request_by_default(engine):
    before = engine["log"].stat().st_size
    for _ in range(20):
        assert engine["client"].predict("classifier-onnx", digit_png(), "image/png")[0] == 200
    assert engine["log"].stat().st_size == before


# --------------------------------------------------------------------------- Hypothesis

shapes = st.lists(st.integers(-2, 40), min_size=0, max_size=5)
datatypes = st.sampled_from([*DATATYPES, "FP99", "", "fp32"])
names = st.sampled_from(["image", "imag", "top_k", "words", "chars", "x", "h0", "", "response"])


@st.composite
def binary_requests(draw):
    """Header length, sizes, datatypes and shapes drawn independently of the bytes that follow."""
    inputs = []
    for _ in range(draw(st.integers(0, 3))):
        tensor = {"name": draw(names), "shape": draw(shapes), "datatype": draw(datatypes)}
        size = draw(st.one_of(st.integers(-3, 4000), st.just(10**12), st.none(), st.text(max_size=3)))
        if draw(st.booleans()):
            tensor["parameters"] = {"binary_data_size": size}
        else:
            tensor["data"] = draw(st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), max_size=8))
        inputs.append(tensor)
    head = json.dumps({"inputs": inputs}).encode()
    payload = draw(st.one_of(st.binary(max_size=4000), st.just(np.zeros(784, np.float32).tobytes())))
    header_text = st.text(st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=6)
    header = draw(
        st.one_of(st.just(str(len(head))), st.integers(-5, len(head) + len(payload) + 5).map(str), header_text)
    )  # what an HTTP header can carry (latin-1, no control characters)
    model = draw(st.sampled_from(MODELS))
    return head, payload, header, model


@FUZZ
@given(request=binary_requests())
def test_arbitrary_binary_extension_bodies(engine, request):
    head, payload, header, model = request
    code, body, _ = _binary(engine, head, payload, header, model)
    _assert_answer(code, body, (head[:200], header))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@st.composite
def v2_json_requests(draw):
    inputs = draw(
        st.lists(
            st.fixed_dictionaries(
                {"name": names, "shape": shapes, "datatype": datatypes},
                optional={"data": json_values, "parameters": json_values},
            ),
            max_size=3,
        )
    )
    request = {"inputs": inputs}
    if draw(st.booleans()):
        request["outputs"] = draw(
            st.lists(st.fixed_dictionaries({"name": st.sampled_from(["logits", "response", "y", 7])}), max_size=2)
        )
    if draw(st.integers(0, 4)) == 0:  # sometimes not even a list of inputs
        request = {"inputs": draw(json_values)}
    return request, draw(st.sampled_from(MODELS))


@FUZZ
@given(request=v2_json_requests())
def test_arbitrary_v2_json_requests(engine, request):
    body, model = request
    code, answer, _ = engine["client"].request(
        "POST", f"/v2/models/{model}/infer", json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    _assert_answer(code, answer, body)


@st.composite
def grpc_requests(draw):
    request = service_pb2.ModelInferRequest(model_name=draw(st.sampled_from([*MODELS, "nope", ""])))
    for _ in range(draw(st.integers(0, 3))):
        request.inputs.add(name=draw(names), datatype=draw(datatypes), shape=[max(d, 0) for d in draw(shapes)])
    for _ in range(draw(st.integers(0, 4))):
        request.raw_input_contents.append(
            draw(st.one_of(st.binary(max_size=3200), st.just(np.zeros(784, np.float32).tobytes())))
        )
    for output in draw(st.lists(st.sampled_from(["logits", "response", "zz"]), max_size=2)):
        request.outputs.add(name=output)
    return request


@FUZZ
@given(request=grpc_requests())
def test_arbitrary_grpc_infer_requests(engine, request):
    try:
        engine["stub"].ModelInfer(request, metadata=engine["metadata"], timeout=30)
    except grpc.RpcError as e:
        assert e.code() in OK_GRPC, (e.code(), e.details(), str(request)[:300])
        assert e.details(), str(request)[:300]


def test_after_the_fuzzing_the_log_holds_no_traceback(engine):
    """Runs after the Hypothesis tests above (file order): refusals were logged as single lines only."""
    text = engine["log"].read_text()
    assert "Traceback" not in text and " ERROR " not in text, text[-3000:]
    assert engine["client"].predict("classifier-onnx", digit_png(), "image/png")[0] == 200


# --------------------------------------------------------------------------- the bounded log


def _write_lines(path: str, lines: int, worker: int) -> None:
    import logging

    logger = logging.getLogger(f"bounded-{worker}")
    logger.propagate = False
    logger.addHandler(BoundedFileHandler(path, max_bytes=20_000, backups=3))
    logger.setLevel(logging.INFO)
    for i in range(lines):
        logger.info("worker %d line %d %s", worker, i, "x" * 60)


def test_the_log_stays_bounded_with_several_processes_writing(tmp_path):
    path = tmp_path / "kserve.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_write_lines, args=(str(path), 2000, w)) for w in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
        assert w.exitcode == 0
    files = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert files == ["kserve.log", "kserve.log.1.gz", "kserve.log.2.gz", "kserve.log.3.gz"], files
    assert path.stat().st_size <= 20_000
    newest = gzip.decompress((tmp_path / "kserve.log.1.gz").read_bytes()).decode()
    assert 15_000 < len(newest) <= 20_000 and all(ln.startswith("worker ") for ln in newest.splitlines())
    # 6,000 lines of ~80 bytes were written: only the newest (3 + 1) x 20 kB are kept
    kept = path.read_text().count("\n") + sum(
        gzip.decompress(p.read_bytes()).count(b"\n") for p in tmp_path.glob("*.gz")
    )
    assert 700 < kept < 1100
