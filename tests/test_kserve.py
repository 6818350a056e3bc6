"""The KServe engine end to end: ``zoo-serve start --engine kserve`` on the same archives as TorchServe,
queried with NVIDIA's ``tritonclient`` over HTTP and gRPC (Open Inference Protocol v2) and over KServe v1.
Answers must equal in-process onnxruntime and the TorchServe adapter's answers; bad requests get 4xx.

``kserve`` is never imported in this process: its protobuf module and tritonclient's register the same
``inference.*`` messages, and one process cannot hold both. The SDK checks run in a subprocess."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("kserve") is None:
    pytest.skip("the KServe engine is the kserve extra: pip install '.[kserve]'", allow_module_level=True)
import tritonclient.grpc as triton_grpc
import tritonclient.http as triton_http
from conftest import digit_png, hostile_corpus
from tritonclient.utils import InferenceServerException

from handlers.tasks import load_handler
from serving.client import Client
from serving.server import ServerConfig, free_port, start, status, stop

#: One archive per request kind: image classifier (both runtimes), generator, tagger, language model, tensors.
SERVED = [
    "classifier-onnx",
    "classifier-torchscript",
    "dcgan-onnx",
    "dcgan-onnx-int8",
    "tagger-onnx",
    "ngram-onnx",
    "rnn-onnx",
]


@pytest.fixture(scope="module")
def kserve_served(model_archives, tmp_path_factory):
    root = tmp_path_factory.mktemp("kserve")
    cfg = ServerConfig(
        run_dir=root / "run",
        engine="kserve",
        store=model_archives["store"],
        models=SERVED,
        port=free_port(),
        grpc_port=free_port(),
        max_request_mb=2,
    )
    try:
        state = start(cfg, timeout_s=300, log=lambda m: None)
        token = json.loads(Path(state["key_file"]).read_text())["inference"]["key"]
        auth = {"authorization": f"Bearer {token}"}  # passed as dict(auth): tritonclient adds its headers to it
        yield {
            "cfg": cfg,
            "auth": auth,
            "exports": model_archives["exports"],
            "store": model_archives["store"],
            "http": triton_http.InferenceServerClient(f"127.0.0.1:{cfg.port}"),
            "grpc": triton_grpc.InferenceServerClient(f"127.0.0.1:{cfg.grpc_port}"),
            "client": Client.from_run_dir(cfg.run_dir),
        }
    finally:
        stop(cfg.run_dir, log=lambda m: None)
    assert not (cfg.run_dir / "tmp" / ".model_server.pid").exists()


def _core(served, name: str):
    """The request core in process, loaded from the archive's own files."""
    folder = served["cfg"].run_dir / "in-process" / name
    if not folder.exists():
        with zipfile.ZipFile(served["store"] / f"{name}.mar") as archive:
            archive.extractall(folder)
    return load_handler(folder)


def _ort(exports: Path, part: str = "model"):
    import onnxruntime as ort

    session = ort.InferenceSession(str(exports / f"{part}.onnx"), providers=["CPUExecutionProvider"])
    return lambda feeds: session.run(None, feeds)


def _input(module, name: str, array: np.ndarray, datatype: str):
    tensor = module.InferInput(name, list(array.shape), datatype)
    tensor.set_data_from_numpy(array)
    return tensor


CLIENTS = ["http", "grpc"]


@pytest.mark.parametrize("via", CLIENTS)
def test_metadata_is_truthful(kserve_served, via):
    client, auth = kserve_served[via], kserve_served["auth"]
    assert client.is_server_live() and client.is_server_ready() and client.is_model_ready("classifier-onnx")
    for name, base in (("classifier-onnx", "classifier"), ("tagger-onnx", "tagger"), ("rnn-onnx", "rnn")):
        record = json.loads((kserve_served["exports"][base] / "export.json").read_text())
        meta = client.get_model_metadata(name, headers=dict(auth), **({"as_json": True} if via == "grpc" else {}))
        for got, spec in zip(meta["inputs"], record["parts"]["model"]["inputs"]):
            dynamic = {int(a) for a in spec["dynamic_axes"]}
            assert got["name"] == spec["name"]
            assert got["datatype"] == {"float32": "FP32", "int64": "INT64"}[spec["dtype"]]
            assert [int(d) for d in got["shape"]] == [-1 if i in dynamic else d for i, d in enumerate(spec["shape"])]
        assert [o["name"] for o in meta["outputs"]] == [o["name"] for o in record["parts"]["model"]["outputs"]]
        assert meta["platform"] == "onnxruntime_onnx"  # the runtime served, named as Triton names it
    platforms = {
        name: client.get_model_metadata(name, headers=dict(auth), **({"as_json": True} if via == "grpc" else {}))[
            "platform"
        ]
        for name in ("classifier-torchscript", "dcgan-onnx-int8")
    }
    assert platforms == {"classifier-torchscript": "pytorch_libtorch", "dcgan-onnx-int8": "onnxruntime_onnx_int8"}


@pytest.mark.parametrize("via", CLIENTS)
def test_int8_generator_answers_as_in_process_int8_onnxruntime(kserve_served, via):
    import onnxruntime as ort

    module = triton_http if via == "http" else triton_grpc
    client, auth, exports = kserve_served[via], kserve_served["auth"], kserve_served["exports"]
    quantized = json.loads((exports["dcgan"] / "export.json").read_text())["parts"]["generator"]["quantized"]
    session = ort.InferenceSession(str(exports["dcgan"] / quantized["file"]), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    noise = np.random.default_rng(3).uniform(-1, 1, (2, session.get_inputs()[0].shape[1])).astype(np.float32)
    answer = client.infer("dcgan-onnx-int8", [_input(module, name, noise, "FP32")], headers=dict(auth))
    out = answer.get_response(**({"as_json": True} if via == "grpc" else {}))["outputs"][0]["name"]
    np.testing.assert_allclose(answer.as_numpy(out), session.run(None, {name: noise})[0], atol=1e-6)


@pytest.mark.parametrize("via", CLIENTS)
def test_tensor_requests_equal_in_process_onnxruntime(kserve_served, via):
    module = triton_http if via == "http" else triton_grpc
    client, auth, exports = kserve_served[via], kserve_served["auth"], kserve_served["exports"]
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    answer = client.infer("classifier-onnx", [_input(module, "image", x, "FP32")], headers=dict(auth))
    np.testing.assert_allclose(answer.as_numpy("logits"), _ort(exports["classifier"])({"image": x})[0], atol=1e-5)

    meta = json.loads((exports["tagger"] / "export.json").read_text())["parts"]["model"]["inputs"]
    words = np.array([[2, 3, 1, 4]], np.int64)
    chars = np.ones((1, 4, 5), np.int64)
    feeds = {meta[0]["name"]: words, meta[1]["name"]: chars}
    answer = client.infer("tagger-onnx", [_input(module, k, v, "INT64") for k, v in feeds.items()], headers=dict(auth))
    np.testing.assert_allclose(
        answer.as_numpy(answer.get_response(**({"as_json": True} if via == "grpc" else {}))["outputs"][0]["name"]),
        _ort(exports["tagger"])(feeds)[0],
        atol=1e-5,
    )

    seq = np.sin(np.linspace(0, 3, 26)).astype(np.float32).reshape(2, 13, 1)
    h0 = np.zeros((1, 2, 32), np.float32)
    answer = client.infer(
        "rnn-onnx",
        [_input(module, "x", seq, "FP32"), _input(module, "h0", h0, "FP32")],
        headers=dict(auth),
        outputs=[module.InferRequestedOutput("y")],
    )
    y = _ort(exports["rnn"])({"x": seq, "h0": h0})[0]
    np.testing.assert_allclose(answer.as_numpy("y"), y, atol=1e-5)
    assert answer.as_numpy("hn") is None  # only the output asked for


@pytest.mark.parametrize("via", CLIENTS)
@pytest.mark.parametrize("runtime", ["onnx", "torchscript"])
def test_image_fields_answer_as_torchserve_does(kserve_served, via, runtime):
    """A PNG as a v2 BYTES input (base64 over HTTP, raw bytes over gRPC) and as v1 gets the answer the core
    gives TorchServe for the same PNG."""
    module = triton_http if via == "http" else triton_grpc
    client, auth, name = kserve_served[via], kserve_served["auth"], f"classifier-{runtime}"
    pngs = [digit_png(0), digit_png(1)]
    expected = [
        json.loads(a.text)
        for a in _core(kserve_served, name).answer([{"image": base64.b64encode(p).decode(), "top_k": 3} for p in pngs])
    ]
    sent = np.array([base64.b64encode(p) if via == "http" else p for p in pngs], dtype=np.object_)
    answer = client.infer(
        name,
        [_input(module, "image", sent, "BYTES"), _input(module, "top_k", np.array([3, 3], np.int32), "INT32")],
        headers=dict(auth),
    )
    assert [json.loads(t) for t in answer.as_numpy("response")] == expected
    # KServe v1 and a raw PNG body: the same answers as TorchServe's /predictions
    kclient = kserve_served["client"]
    code, body, _ = kclient.request(
        "POST",
        f"/v1/models/{name}:predict",
        json.dumps({"instances": [{"image": base64.b64encode(p).decode(), "top_k": 3} for p in pngs]}).encode(),
        {"Content-Type": "application/json"},
    )
    assert code == 200 and body == {"predictions": expected}
    code, body, _ = kclient.predict(name, pngs[0], "image/png")
    assert code == 200 and body == json.loads(_core(kserve_served, name).answer([pngs[0]])[0].text)


@pytest.mark.parametrize("via", CLIENTS)
def test_generator_and_text_fields(kserve_served, via):
    module = triton_http if via == "http" else triton_grpc
    client, auth = kserve_served[via], kserve_served["auth"]
    answer = client.infer(
        "dcgan-onnx",
        [
            _input(module, "n", np.array([2], np.int32), "INT32"),
            _input(module, "seed", np.array([7], np.int64), "INT64"),
        ],
        headers=dict(auth),
    )
    expected = json.loads(_core(kserve_served, "dcgan-onnx").answer([{"n": 2, "seed": 7}])[0].text)
    assert json.loads(answer.as_numpy("response")[0]) == expected and len(expected["images_png"]) == 2

    sentence = np.array([b"Everybody ate the xylophone"], dtype=np.object_)
    answer = client.infer("tagger-onnx", [_input(module, "sentence", sentence, "BYTES")], headers=dict(auth))
    tags = json.loads(answer.as_numpy("response")[0])["tags"]
    assert [t["word"] for t in tags] == ["Everybody", "ate", "the", "xylophone"]
    assert (
        tags
        == json.loads(
            _core(kserve_served, "tagger-onnx").answer([{"sentence": "Everybody ate the xylophone"}])[0].text
        )["tags"]
    )
    words = np.array([[b"so", b"gazed"]], dtype=np.object_)
    answer = client.infer("ngram-onnx", [_input(module, "context", words, "BYTES")], headers=dict(auth))
    assert json.loads(answer.as_numpy("response")[0]) == json.loads(
        _core(kserve_served, "ngram-onnx").answer([{"context": ["so", "gazed"]}])[0].text
    )
    code, body, _ = kserve_served["client"].predict("tagger-onnx", "Everybody ate the xylophone")  # v1, text/plain
    assert code == 200 and body["tags"] == tags


def test_bad_requests_get_4xx_with_a_message_and_the_server_keeps_serving(kserve_served):
    served, auth = kserve_served, kserve_served["auth"]
    http, grpc = served["http"], served["grpc"]
    good = np.zeros((1, 1, 28, 28), np.float32)
    bad_v2 = [  # (inputs, words in the message)
        ([("image", np.zeros((1, 1, 28, 27), np.float32), "FP32")], "shape"),
        ([("image", good.astype(np.float64), "FP64")], "FP32"),
        ([("image", np.full((1, 1, 28, 28), np.nan, np.float32), "FP32")], "NaN"),
        ([("imag", good, "FP32")], "unknown input"),
        ([("image", np.array([b"not an image"], dtype=np.object_), "BYTES")], "not an image"),
        ([("image", np.array([digit_png()[:60]], dtype=np.object_), "BYTES")], "truncated"),
        (
            [
                ("top_k", np.array([0], np.int32), "INT32"),
                ("image", np.array([digit_png()], dtype=np.object_), "BYTES"),
            ],
            "top_k",
        ),
        ([("data", np.zeros((65, 28, 28), np.float32), "FP32")], "at most 64"),
    ]
    for inputs, words in bad_v2:
        for module, client in ((triton_http, http), (triton_grpc, grpc)):
            tensors = []
            for name, array, datatype in inputs:
                if datatype == "BYTES" and module is triton_http:
                    array = np.array([base64.b64encode(v) for v in array], dtype=np.object_)
                tensors.append(_input(module, name, array, datatype))
            with pytest.raises(InferenceServerException) as err:
                client.infer("classifier-onnx", tensors, headers=dict(auth))
            text = str(err.value)
            assert words.lower() in text.lower(), text
            assert (
                ("[4" in text)
                if module is triton_http
                else ("INVALID_ARGUMENT" in text or "RESOURCE_EXHAUSTED" in text)
            ), text
    with pytest.raises(InferenceServerException, match="INVALID_ARGUMENT"):  # a row that is not a number
        grpc.infer("dcgan-onnx", [_input(triton_grpc, "n", np.array([[1, 2]], np.int32), "INT32")], headers=dict(auth))
    meta = json.loads((served["exports"]["tagger"] / "export.json").read_text())["parts"]["model"]["inputs"]
    past_vocabulary = [
        _input(triton_http, meta[0]["name"], np.array([[10**9]], np.int64), "INT64"),
        _input(triton_http, meta[1]["name"], np.ones((1, 1, 3), np.int64), "INT64"),
    ]
    with pytest.raises(InferenceServerException, match="runtime could not run"):  # an index past the embedding
        http.infer("tagger-onnx", past_vocabulary, headers=dict(auth))
    kclient = served["client"]
    for path, body, ctype, want, words in [
        (
            "/v1/models/classifier-onnx:predict",
            b'{"instances": [{"image": "abc',
            "application/json",
            400,
            "request format",
        ),
        ("/v1/models/classifier-onnx:predict", b'{"image": "abc"}', "application/json", 400, "instances"),
        ("/v1/models/classifier-onnx:predict", b'{"instances": []}', "application/json", 422, "at least one"),
        (
            "/v1/models/classifier-onnx:predict",
            b'{"instances": [{"data": [[NaN]]}]}',
            "application/json",
            400,
            "format",
        ),
        (
            "/v1/models/classifier-onnx:predict",
            json.dumps({"instances": [{"top_k": 3}, {"imag": 1}]}).encode(),
            "application/json",
            422,
            "instance 0",
        ),
        ("/v1/models/classifier-onnx:predict", digit_png(), "application/octet-stream", 400, "image/png"),
        ("/v1/models/classifier-onnx:predict", b"x" * (3 << 20), "image/png", 413, "limit"),
        ("/v1/models/nope:predict", b'{"instances": [{}]}', "application/json", 404, "nope"),
        ("/v2/models/classifier-onnx/infer", b'{"inputs": 7}', "application/json", 400, "inputs"),
        ("/v2/models/classifier-onnx/infer", b"garbage", "application/json", 400, "not an inference request"),
    ]:
        code, answer, _ = kclient.request("POST", path, body, {"Content-Type": ctype})
        assert code == want and isinstance(answer, dict) and words.lower() in answer["error"].lower(), (
            path,
            body[:40],
            code,
            answer,
        )
    big = np.zeros((4, 1, 256, 1024), np.float32)  # 4 MB over gRPC: past the 2 MB limit
    with pytest.raises(InferenceServerException, match="RESOURCE_EXHAUSTED"):
        grpc.infer("classifier-onnx", [_input(triton_grpc, "image", big, "FP32")], headers=dict(auth))
    # still serving, no traceback logged for any of it
    assert http.infer("classifier-onnx", [_input(triton_http, "image", good, "FP32")], headers=dict(auth)).as_numpy(
        "logits"
    ).shape == (1, 10)
    log = (served["cfg"].run_dir / "logs" / "kserve.log").read_text()
    assert "Traceback" not in log, log[-3000:]


def test_hostile_corpus_gets_strict_json_4xx_and_the_server_keeps_serving(kserve_served):
    """TorchServe's hostile corpus through KServe v1 (JSON bodies as one instance, others raw): every answer is
    a 200 or a 4xx in strict JSON with a short error, and nothing is logged as a failure."""
    client, served = kserve_served["client"], {name.rsplit("-", 1)[0] for name in SERVED if name.endswith("-onnx")}
    for base, body, ctype in hostile_corpus():
        if base not in served:
            continue
        if "json" in ctype:
            body = b'{"instances": [' + body + b"]}"
        code, text, _ = client.request("POST", f"/v1/models/{base}-onnx:predict", body, {"Content-Type": ctype})
        raw = text if isinstance(text, str) else json.dumps(text)
        assert code == 200 or 400 <= code < 500, (base, code, raw[:300])
        answer = json.loads(raw, parse_constant=lambda t: pytest.fail(f"{t} in a response"))
        if code != 200:
            assert isinstance(answer.get("error"), str) and len(raw) < 2500, (base, code, raw[:300])
    assert client.predict("classifier-onnx", digit_png(), "image/png")[0] == 200
    log = (kserve_served["cfg"].run_dir / "logs" / "kserve.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


def test_the_serving_guides_kserve_commands_work_as_written(kserve_served, tmp_path):
    """The serving guide's KServe curl lines, pasted with this server's run folder, port and model, answer 200."""
    lines = (Path(__file__).resolve().parents[1] / "docs" / "guides" / "serving.md").read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("## The KServe engine"))
    block, commands = lines[at:], []
    for i, line in enumerate(block):
        if line.startswith(("KEY=", "curl ")) and (not commands or not commands[-1].endswith("\\")):
            commands.append(line)
        elif commands and commands[-1].endswith("\\"):
            commands[-1] = commands[-1][:-1] + " " + line.strip()
        if line.startswith("```") and commands and i > 3:
            break
    assert len(commands) == 3, commands
    cfg = kserve_served["cfg"]
    key_line, *curls = [
        c.replace("runs/serve", str(cfg.run_dir))
        .replace("127.0.0.1:8080", f"127.0.0.1:{cfg.port}")
        .replace("/mnist-cnn", "/classifier-onnx")
        .split("  #")[0]
        .rstrip()
        for c in commands
    ]
    (tmp_path / "digit.png").write_bytes(digit_png(3))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    answers = []
    for curl in curls:
        out = subprocess.run(
            ["bash", "-c", f"{key_line}\n{curl} -s -w '\\n%{{http_code}}'"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        body, _, code = out.stdout.rpartition("\n")
        assert code == "200", (curl, out.stdout[-500:], out.stderr[-500:])
        answers.append((body, code))
    assert json.loads(answers[0][0])["inputs"][0]["name"] == "image"
    assert len(json.loads(answers[1][0])["predictions"][0]["predictions"]) == 5


def test_access_key_is_required_but_probes_and_metrics_are_open(kserve_served):
    cfg = kserve_served["cfg"]
    anonymous = Client("127.0.0.1", cfg.port, None, engine="kserve")
    code, body, _ = anonymous.predict("classifier-onnx", digit_png(), "image/png")
    assert code == 401 and "key" in body["error"]
    assert (
        Client("127.0.0.1", cfg.port, "wrong", engine="kserve").request("GET", "/v2/models/classifier-onnx")[0] == 401
    )
    assert anonymous.request("GET", "/v2/health/ready")[0] == 200
    assert anonymous.request("GET", "/v2/models/classifier-onnx/ready")[0] == 200
    with pytest.raises(InferenceServerException, match="UNAUTHENTICATED"):
        kserve_served["grpc"].get_model_metadata("classifier-onnx")
    kserve_served["client"].predict("classifier-onnx", digit_png(), "image/png")
    code, metrics, _ = anonymous.request("GET", "/metrics")
    assert code == 200 and 'request_predict_seconds_count{model_name="classifier-onnx"}' in metrics
    key = Path(status(cfg.run_dir)["key_file"])
    assert key.stat().st_mode & 0o777 == 0o600


def test_cli_start_predict_status_stop_with_workers(model_archives, tmp_path):
    from click.testing import CliRunner

    from serving.cli import main as serve_cli

    runner = CliRunner()
    run_dir, port = tmp_path / "run", free_port()
    result = runner.invoke(
        serve_cli,
        [
            "start",
            "classifier-onnx",
            "--engine",
            "kserve",
            "--store",
            str(model_archives["store"]),
            "--run-dir",
            str(run_dir),
            "--port",
            str(port),
            "--grpc-port",
            str(free_port()),
            "--workers",
            "2",
        ],
    )
    try:
        assert result.exit_code == 0, result.output
        assert "KServe is up" in result.output
        image = tmp_path / "digit.png"
        image.write_bytes(digit_png())
        result = runner.invoke(serve_cli, ["predict", "classifier-onnx", str(image), "--run-dir", str(run_dir)])
        assert result.exit_code == 0 and "HTTP 200" in result.output, result.output
        info = status(run_dir)
        assert info["engine"] == "kserve" and info["models"]["classifier-onnx"]["inputs"][0]["name"] == "image"
        pid = info["pid"]
        children = subprocess.run(["pgrep", "-g", str(pid)], capture_output=True, text=True).stdout.split()
        assert len(children) >= 3, children  # the engine and its two REST worker processes
    finally:
        result = runner.invoke(serve_cli, ["stop", "--run-dir", str(run_dir)])
    assert result.exit_code == 0 and "stopped" in result.output
    time.sleep(0.5)
    left = subprocess.run(["ps", "-g", str(pid), "-o", "stat="], capture_output=True, text=True).stdout.split()
    assert all(s.startswith("Z") for s in left), left  # nothing left running (an orphan's zombie awaits its reaper)


def test_deploy_writes_a_container_context_and_a_manifest_the_sdk_accepts(model_archives, tmp_path):
    out = tmp_path / "deploy"
    zoo_serve = Path(sys.executable).parent / "zoo-serve"
    done = subprocess.run(
        [
            str(zoo_serve),
            "deploy",
            "classifier-onnx",
            "--out",
            str(out),
            "--store",
            str(model_archives["store"]),
            "--image",
            "registry.example/zoo:1",
            "--min-replicas",
            "0",
            "--max-replicas",
            "4",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["service"] == "classifier-onnx" and "kubectl apply" in done.stderr
    # the manifest read back through the kserve SDK's model classes: every field must be one they define
    check = subprocess.run(
        [sys.executable, "-c", CHECK_FIELDS, str(out / "inferenceservice.yaml")], capture_output=True, text=True
    )
    assert check.returncode == 0 and check.stdout.strip() == "ok", check.stdout + check.stderr
    import yaml

    manifest = yaml.safe_load((out / "inferenceservice.yaml").read_text())
    typo = tmp_path / "typo.yaml"
    manifest["spec"]["predictor"]["minReplica"] = 1
    typo.write_text(yaml.safe_dump(manifest))
    check = subprocess.run([sys.executable, "-c", CHECK_FIELDS, str(typo)], capture_output=True, text=True)
    assert check.returncode != 0 and "minReplica" in check.stderr
    predictor = manifest["spec"]["predictor"]
    assert manifest["kind"] == "InferenceService" and (predictor["minReplicas"], predictor["maxReplicas"]) == (0, 4)
    assert predictor["containers"][0]["image"] == "registry.example/zoo:1"
    assert predictor["containers"][0]["readinessProbe"]["httpGet"]["path"] == "/v2/models/classifier-onnx/ready"
    dockerfile = (out / "Dockerfile").read_text()
    assert "zoo_handlers.kserve_server" in dockerfile and "onnxruntime==" in dockerfile and "USER 65534" in dockerfile
    # the container's command works from the build context alone: the archive's own copy of the core
    model_dir = out / "model"
    port = free_port()
    entry = json.loads(dockerfile.split("ENTRYPOINT ", 1)[1].splitlines()[0])
    entry = [sys.executable] + [str(model_dir) if a.startswith("/opt/zoo/") else a for a in entry[1:]]
    entry[entry.index("0.0.0.0")] = "127.0.0.1"
    entry[entry.index("--http-port") + 1], entry[entry.index("--grpc-port") + 1] = str(port), str(free_port())
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONPATH": str(model_dir)}
    proc = subprocess.Popen(entry, cwd=model_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        client = Client("127.0.0.1", port, None, engine="kserve")
        deadline = time.time() + 60
        while not client.ping() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        code, body, _ = client.predict("classifier-onnx", digit_png(), "image/png")
        assert code == 200 and len(body["predictions"]) == 5, body
    finally:
        proc.terminate()
        out_text = proc.communicate(timeout=30)[0].decode(errors="replace")
    assert "classifier-onnx" in out_text, out_text[-2000:]


#: Reads a manifest back through the kserve / kubernetes SDK model classes: every key must be a field they
#: define (a misspelt field fails), recursively; prints "ok".
CHECK_FIELDS = """
import sys, yaml, kserve, kubernetes.client as k8s

def check(value, klass, where):
    cls = getattr(kserve, klass, None) or getattr(k8s, klass)
    by_json = {v: k for k, v in cls.attribute_map.items()}
    for key, item in value.items():
        if key not in by_json:
            sys.exit(f"{where}: {klass} has no field {key!r}")
        kind = cls.openapi_types[by_json[key]]
        if kind.startswith("list[V1") and isinstance(item, list):
            for i, element in enumerate(item):
                check(element, kind[5:-1], f"{where}.{key}[{i}]")
        elif kind.startswith("V1") and isinstance(item, dict):
            check(item, kind, f"{where}.{key}")

check(yaml.safe_load(open(sys.argv[1])), "V1beta1InferenceService", "")
print("ok")
"""


def test_the_followed_kserve_code_has_not_drifted():
    """ZooModelServer.start builds KServe's servers itself (ModelServer takes no host, size limit or key): the KServe
    code it follows must be the installed one's, and the installed kserve in the range setup.cfg pins. (Asked in a
    subprocess: kserve is never imported in this one.)"""
    probe = (
        "import json; from importlib import metadata; from handlers import kserve_server as k; "
        "print(json.dumps({'version': metadata.version('kserve'), 'tested': k.KSERVE_TESTED, "
        "'drift': k.upstream_drift(), 'source': k.upstream_source(next(iter(k.UPSTREAM)))}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr[-2000:]
    found = json.loads(out.stdout.strip().splitlines()[-1])
    low, high = (tuple(int(p) for p in v.split(".")) for v in found["tested"])
    assert low <= tuple(int(p) for p in found["version"].split(".")[:2]) < high, found["version"]
    setup = (Path(__file__).resolve().parents[1] / "setup.cfg").read_text()
    assert f"kserve>={found['tested'][0]},<{found['tested'][1]}" in setup
    assert found["drift"] == [], (
        "the installed kserve changed code that handlers/kserve_server.py follows: review "
        "ZooModelServer.start / ZooGRPCServer against it, then update UPSTREAM"
    )
    assert "def start(self, models" in found["source"]  # the check reads real source
