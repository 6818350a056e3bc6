"""Serving end to end: a real TorchServe (own ports, own run folder, always stopped) serving one model
of every task kind in both runtimes; HTTP answers must equal in-process onnxruntime / TorchScript."""

from __future__ import annotations

import base64
import http.client
import importlib.util
import io
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import (
    SERVED_MODELS,
    SERVED_RUNTIMES,
    digit_png,
    hostile_corpus,
    png_bytes,
)
from PIL import Image

from handlers import imaging
from serving.cli import main as serve_cli
from serving.client import Client
from serving.server import (
    ServerConfig,
    ServingError,
    free_port,
    java_version,
    start,
    stop,
)

pytestmark = pytest.mark.skipif(shutil.which("java") is None, reason="TorchServe needs Java 17+ (not on PATH)")

MODELS = SERVED_MODELS
RUNTIMES = SERVED_RUNTIMES


@pytest.fixture(scope="module")
def served(model_archives, tmp_path_factory):
    """Serve every archived (model, runtime) from one TorchServe; stop it however the tests end."""
    root = tmp_path_factory.mktemp("serving")
    cfg = ServerConfig(
        run_dir=root / "run",
        store=model_archives["store"],
        models=model_archives["names"],
        port=free_port(),
        management_port=free_port(),
        metrics_port=free_port(),
        batch_size=4,
        max_batch_delay_ms=20,
    )
    try:
        start(cfg, timeout_s=600, log=lambda m: None)
        yield {
            "client": Client.from_run_dir(cfg.run_dir),
            "exports": model_archives["exports"],
            "cfg": cfg,
            "root": root,
        }
    finally:
        stop(cfg.run_dir, log=lambda m: None)
    assert not (cfg.run_dir / "tmp" / ".model_server.pid").exists()


def _runtime(exports: Path, runtime: str, part: str):
    """In-process runner of the same artifact the archive serves."""
    if runtime == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(exports / f"{part}.onnx"), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        return lambda *xs: session.run(None, dict(zip(names, xs)))
    module = torch.jit.load(str(exports / f"{part}.pt")).eval()

    def run(*xs):
        with torch.no_grad():
            out = module(*[torch.from_numpy(x) for x in xs])
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    return run


def _record(exports: Path) -> dict:
    return json.loads((exports / "export.json").read_text())


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_image_classifier_matches_in_process(served, runtime):
    client, exp = served["client"], served["exports"]["classifier"]
    pre = _record(exp)["preprocessing"]
    rng = np.random.default_rng(0)
    images = [(rng.random((28, 28)) * 255).astype(np.uint8) for _ in range(6)]
    run = _runtime(exp, runtime, "model")
    with ThreadPoolExecutor(6) as pool:  # concurrent requests so that TorchServe batches them
        answers = list(
            pool.map(
                lambda im: client.__class__(client.host, client.port, client.token).predict(
                    f"classifier-{runtime}", png_bytes(im), "image/png"
                ),
                images,
            )
        )
    for image, (code, body, _) in zip(images, answers):
        assert code == 200, body
        x = imaging.preprocess(imaging.decode_image(png_bytes(image)), pre)[None]
        probs = imaging.softmax(run(x)[0][0].astype(np.float64))
        for p in body["predictions"]:
            assert p["probability"] == pytest.approx(probs[p["index"]], abs=1e-6)
        assert body["predictions"][0]["index"] == int(probs.argmax())
    # the same image as base64 JSON and as a pixel array gives the same answer
    b64 = client.predict(
        f"classifier-{runtime}", {"image": base64.b64encode(png_bytes(images[0])).decode(), "top_k": 3}
    )
    raw = client.predict(f"classifier-{runtime}", {"data": images[0].tolist(), "invert": "no", "top_k": 3})
    assert b64[0] == raw[0] == 200 and len(b64[1]["predictions"]) == 3
    assert b64[1]["predictions"][0]["probability"] == pytest.approx(answers[0][1]["predictions"][0]["probability"])


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_autoencoder_returns_code_and_reconstruction(served, runtime):
    client, exp = served["client"], served["exports"]["autoencoder"]
    image = (np.random.default_rng(1).random((28, 28)) * 255).astype(np.uint8)
    code, body, _ = client.predict(f"autoencoder-{runtime}", png_bytes(image), "image/png")
    assert code == 200, body
    x = imaging.preprocess(imaging.decode_image(png_bytes(image)), _record(exp)["preprocessing"])[None]
    expected_code, recon = _runtime(exp, runtime, "model")(x)
    np.testing.assert_allclose(body["code"], expected_code[0], atol=1e-5)
    png = np.asarray(Image.open(io.BytesIO(base64.b64decode(body["reconstruction_png"]))), dtype=np.float32)
    np.testing.assert_allclose(png / 255, np.clip(recon[0, 0], 0, 1), atol=1 / 255 + 1e-6)


@pytest.mark.parametrize(("base", "uniform"), [("dcgan", True), ("vae", False)])
@pytest.mark.parametrize("runtime", RUNTIMES)
def test_generators_are_seeded_and_match_in_process(served, base, uniform, runtime):
    client, exp = served["client"], served["exports"][base]
    part = "generator" if base == "dcgan" else "decoder"
    code, body, _ = client.predict(f"{base}-{runtime}", {"n": 3, "seed": 42})
    assert code == 200 and body["n"] == 3 and len(body["images_png"]) == 3
    dim = _record(exp)["parts"][part]["inputs"][0]["shape"][1]
    rng = np.random.default_rng(42)
    noise = (rng.uniform(-1, 1, (3, dim)) if uniform else rng.standard_normal((3, dim))).astype(np.float32)
    images = _runtime(exp, runtime, part)(noise)[0]
    for png, image in zip(body["images_png"], images):
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))), dtype=np.float32) / 255
        np.testing.assert_allclose(got, np.clip(image[0] * 0.5 + 0.5, 0, 1), atol=1 / 255 + 1e-6)
    again = client.predict(f"{base}-{runtime}", {"n": 3, "seed": 42})[1]
    assert again["images_png"] == body["images_png"]


def test_int8_generator_answers_as_in_process_int8_onnxruntime(served):
    """``--runtime onnx-int8`` serves the export's int8 model: the same pictures as that file run in process,
    and ``describe`` names the runtime."""
    import onnxruntime as ort

    client, exp = served["client"], served["exports"]["dcgan"]
    quantized = _record(exp)["parts"]["generator"]["quantized"]
    assert quantized["kind"] == "static" and "noise" in quantized["method"]
    session = ort.InferenceSession(str(exp / quantized["file"]), providers=["CPUExecutionProvider"])
    code, body, _ = client.predict("dcgan-onnx-int8", {"n": 3, "seed": 42})
    assert code == 200
    dim = _record(exp)["parts"]["generator"]["inputs"][0]["shape"][1]
    noise = np.random.default_rng(42).uniform(-1, 1, (3, dim)).astype(np.float32)
    images = session.run(None, {session.get_inputs()[0].name: noise})[0]
    for png, image in zip(body["images_png"], images):
        got = np.asarray(Image.open(io.BytesIO(base64.b64decode(png))), dtype=np.float32) / 255
        np.testing.assert_allclose(got, np.clip(image[0] * 0.5 + 0.5, 0, 1), atol=1 / 255 + 1e-6)
    fp32 = _runtime(exp, "onnx", "generator")(noise)[0]
    assert not np.array_equal(fp32, images) and np.abs(fp32 - images).mean() < 0.1  # int8 indeed, and close
    assert client.describe("dcgan-onnx-int8")[1]["runtime"] == "onnx-int8"


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_language_model_and_tagger(served, runtime):
    client = served["client"]
    exp = served["exports"]["ngram"]
    vocab = _record(exp)["meta"]["vocab"]
    code, body, _ = client.predict(f"ngram-{runtime}", "so gazed")
    assert code == 200
    logits = _runtime(exp, runtime, "model")(np.array([[vocab.index("so"), vocab.index("gazed")]], np.int64))[0][0]
    probs = imaging.softmax(logits.astype(np.float64))
    assert body["predictions"][0]["word"] == vocab[int(probs.argmax())]
    assert body["predictions"][0]["probability"] == pytest.approx(probs.max(), abs=1e-6)
    unknown = client.predict(f"ngram-{runtime}", {"context": ["so", "zzzz"]})
    assert unknown[0] == 422 and "zzzz" in unknown[1]["error"]

    exp = served["exports"]["tagger"]
    meta = _record(exp)["meta"]
    code, body, _ = client.predict(f"tagger-{runtime}", {"sentence": "Everybody ate the xylophone"})
    assert code == 200 and [t["word"] for t in body["tags"]] == ["Everybody", "ate", "the", "xylophone"]
    words = np.array(
        [[meta["words"].index(w) if w in meta["words"] else 1 for w in ["everybody", "ate", "the", "xylophone"]]]
    )
    chars = np.zeros((1, 4, 9), np.int64)
    for j, w in enumerate(["everybody", "ate", "the", "xylophone"]):
        chars[0, j, : len(w)] = [meta["chars"].index(c) if c in meta["chars"] else 1 for c in w]
    logits = _runtime(exp, runtime, "model")(words, chars)[0][0]
    assert [t["tag"] for t in body["tags"]] == [meta["tags"][i] for i in logits.argmax(-1)]

    url = "https://example.org/" + "a" * 300  # one long word is tagged from the characters the model reads
    code, body, _ = client.predict(f"tagger-{runtime}", {"sentence": f"see {url} now"})
    assert code == 200 and [t["word"] for t in body["tags"]] == ["see", url, "now"]
    assert "first 64 characters" in body["tags"][1]["note"] and "note" not in body["tags"][0]
    ids = np.array([[meta["words"].index(w) if w in meta["words"] else 1 for w in ["see", url, "now"]]])
    chars = np.zeros((1, 3, 64), np.int64)
    for j, w in enumerate(["see", url[:64], "now"]):
        chars[0, j, : len(w)] = [meta["chars"].index(c) if c in meta["chars"] else 1 for c in w]
    logits = _runtime(exp, runtime, "model")(ids, chars)[0][0]
    assert [t["tag"] for t in body["tags"]] == [meta["tags"][i] for i in logits.argmax(-1)]


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_q_network_and_sequence_regression(served, runtime):
    client = served["client"]
    exp = served["exports"]["dqn"]
    state = [0.01, -0.2, 0.03, 0.4]
    code, body, _ = client.predict(f"dqn-{runtime}", {"state": state})
    assert code == 200
    q = _runtime(exp, runtime, "model")(np.array([state], np.float32))[0][0]
    np.testing.assert_allclose(body["q_values"], q, atol=1e-6)
    assert body["action"] == int(q.argmax()) and body["label"] in ("push-left", "push-right")

    exp = served["exports"]["rnn"]
    x = np.sin(np.linspace(0, 3, 13)).astype(np.float32).reshape(13, 1)
    h0 = np.zeros((1, 32), np.float32)
    code, body, _ = client.predict(f"rnn-{runtime}", {"x": x.tolist(), "h0": h0.tolist()})
    assert code == 200, body
    y, hn = _runtime(exp, runtime, "model")(x[None], h0[:, None])
    np.testing.assert_allclose(body["y"], y[0], atol=1e-5)
    np.testing.assert_allclose(body["hn"], hn[:, 0], atol=1e-5)


def test_bad_inputs_get_4xx_and_the_worker_survives(served):
    client = served["client"]
    name = "classifier-onnx"
    worker = client.describe(name)[1]["worker_pid"]
    good = png_bytes(np.zeros((28, 28), np.uint8))
    truncated = digit_png(2)[:60]
    cases = [
        (b"this is not an image", "application/octet-stream", 400, "not an image"),
        (truncated, "image/png", 400, "truncated"),
        (b"\x89PNG" + b"x" * (20 * 1024 * 1024), "image/png", 413, "limit"),
        (b"\x89PNG" + b"x" * (40 * 1024 * 1024), "image/png", 413, "limit"),  # past 4x the handler's limit too
        (b'{"imag": "abc"}', "application/json", 422, "unknown field"),
        (b'{"image": "abc', "application/json", 400, "malformed JSON"),
        (json.dumps({"data": [[0] * 5] * 5}).encode(), "application/json", 422, "shape"),
        (json.dumps({"data": [[float("nan")] * 28] * 28}).encode(), "application/json", 400, "NaN is not valid JSON"),
        (b'{"image": "not base64!!"}', "application/json", 400, "base64"),
        (json.dumps({"data": [[0] * 28] * 28, "top_k": -1}).encode(), "application/json", 422, "top_k"),
    ]
    for body, ctype, status, words in cases:
        code, answer, _ = client.predict(name, body, ctype)
        assert code == status, (status, answer)
        assert isinstance(answer, dict) and words.lower() in answer["error"].lower(), answer
        ok = client.predict(name, good, "image/png")
        assert ok[0] == 200, ok
    for base, bad, words in (
        ("dqn", {"state": [1, 2]}, "shape"),
        ("dqn", {"state": [1, 2, 3, None]}, "numbers"),
        ("dcgan", {"n": 1000}, "'n'"),
        ("tagger", {"sentence": ""}, "empty"),
    ):
        code, answer, _ = client.predict(f"{base}-onnx", bad)
        assert code == 422 and words in answer["error"], answer
    for token in (None, "wrong-token"):
        anonymous = Client(client.host, client.port, token)
        code, answer, _ = anonymous.predict(name, good, "image/png")
        assert 400 <= code < 500 and "Token" in json.dumps(answer)
    assert client.describe(name)[1]["worker_pid"] == worker
    assert client.predict(name, good, "image/png")[0] == 200


def test_hostile_requests_over_http_get_strict_json_4xx_and_no_worker_dies(served):
    client = served["client"]
    names = [f"{base}-{runtime}" for base, _, _ in MODELS for runtime in RUNTIMES]
    workers = {name: client.describe(name)[1]["worker_pid"] for name in names}
    for base, body, ctype in hostile_corpus():
        for runtime in RUNTIMES:
            code, text, _ = client.request("POST", f"/predictions/{base}-{runtime}", body, {"Content-Type": ctype})
            raw = text if isinstance(text, str) else json.dumps(text)
            assert code == 200 or 400 <= code < 500, (base, code, raw[:300])
            answer = json.loads(raw, parse_constant=lambda t: pytest.fail(f"{t} in a response"))
            assert isinstance(answer, dict)
            if code != 200:
                assert isinstance(answer.get("error"), str) and len(raw) < 2500, (base, code, raw[:300])
    assert {name: client.describe(name)[1]["worker_pid"] for name in names} == workers
    model_log = (served["cfg"].run_dir / "logs" / "model_log.log").read_text()
    assert "Traceback" not in model_log and "unexpected error" not in model_log  # refusals are not bugs


def test_responses_are_marked_json(served):
    conn = http.client.HTTPConnection(served["client"].host, served["client"].port, timeout=30)
    try:
        for body, status in ((b'{"state": [0, 0, 0, 0]}', 200), (b'{"state": [0, 0]}', 422), (b'{"zzzzzz": 1}', 422)):
            conn.request(
                "POST",
                "/predictions/dqn-onnx",
                body,
                {"Authorization": f"Bearer {served['client'].token}", "Content-Type": "application/json"},
            )
            response = conn.getresponse()
            response.read()
            assert response.status == status
            assert response.getheader("Content-Type", "").startswith("application/json")
            if status != 200:  # the standard reason phrase, never the client's text
                assert response.reason == "Unprocessable Entity"
    finally:
        conn.close()


def test_readme_curl_command_works_as_written(served, tmp_path):
    """The tour's curl command, pasted with this server's run folder, port and endpoint, answers 200."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    lines = readme.splitlines()
    start_at = next(i for i, line in enumerate(lines) if line.startswith("curl "))
    command = []
    for line in lines[start_at:]:
        command.append(line.rstrip("\\").strip())
        if not line.endswith("\\"):
            break
    cmd = " ".join(command)
    assert "Content-Type" in cmd, "README's curl must set the content type (curl defaults to form encoding)"
    cfg = served["cfg"]
    cmd = (
        cmd.replace("runs/serve", str(cfg.run_dir))
        .replace("127.0.0.1:8080", f"127.0.0.1:{cfg.port}")
        .replace("/predictions/mnist-cnn", "/predictions/classifier-onnx")
    )
    (tmp_path / "digit.png").write_bytes(digit_png(4))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    out = subprocess.run(
        ["bash", "-c", cmd + " -s -w '\\n%{http_code}'"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    body, _, code = out.stdout.rpartition("\n")
    assert code == "200", (cmd, out.stdout[-500:], out.stderr[-500:])
    assert json.loads(body)["predictions"][0]["label"] in [str(i) for i in range(10)]


def test_server_files_stay_in_the_run_folder(served):
    run_dir = served["cfg"].run_dir
    assert (run_dir / "key_file.json").is_file() and (run_dir / "logs" / "ts_log.log").is_file()
    assert (run_dir / "tmp" / ".model_server.pid").is_file()
    assert (run_dir / "key_file.json").stat().st_mode & 0o077 == 0
    props = (run_dir / "config.properties").read_text()
    assert "enable_model_api=false" in props and "127.0.0.1" in props and "0.0.0.0" not in props
    status = json.loads(CliRunner().invoke(serve_cli, ["status", "--run-dir", str(run_dir)]).stdout)
    assert status["running"] and status["healthy"] and len(status["models"]) == 2 * len(MODELS) + 1  # + dcgan-onnx-int8


def test_logs_stay_small_and_metrics_are_served(served):
    """One access line a request, no per-request chatter in ts_log, counters on the metrics port."""
    client, run_dir = served["client"], served["cfg"].run_dir
    image = digit_png(3)
    for _ in range(20):
        assert client.predict("classifier-onnx", image, "image/png")[0] == 200
    logs = run_dir / "logs"
    access = (logs / "access_log.log").read_text()
    assert access.count("/predictions/classifier-onnx") >= 20
    ts_log = (logs / "ts_log.log").read_text()
    assert "Backend response time" not in ts_log and "[METRICS]" not in ts_log and "[DEBUG]" not in ts_log
    assert "Backend received inference" not in (logs / "model_log.log").read_text()
    metrics = Client("127.0.0.1", served["cfg"].metrics_port, None)
    status, text, _ = metrics.request("GET", "/metrics")
    metrics.close()
    assert status == 200 and 'ts_inference_requests_total{model_name="classifier-onnx"' in str(text)


@pytest.mark.skipif(importlib.util.find_spec("kserve") is None, reason="the KServe engine is the kserve extra")
def test_kserve_engine_answers_tritonclient_as_torchserve_answers(served):
    """The same PNG to TorchServe and, through tritonclient over HTTP and gRPC, to the KServe engine serving
    the same archive: the same answer."""
    import tritonclient.grpc as triton_grpc
    import tritonclient.http as triton_http

    cfg = served["cfg"]
    png = digit_png(5)
    code, torchserve_answer, _ = served["client"].predict("classifier-onnx", png, "image/png")
    assert code == 200
    kcfg = ServerConfig(
        run_dir=served["root"] / "kserve",
        engine="kserve",
        store=cfg.store,
        models=["classifier-onnx"],
        port=free_port(),
        grpc_port=free_port(),
    )
    try:
        start(kcfg, timeout_s=120, log=lambda m: None)
        key = json.loads((kcfg.run_dir / "key_file.json").read_text())["inference"]["key"]
        for module, address, image in (
            (triton_http, f"127.0.0.1:{kcfg.port}", base64.b64encode(png)),
            (triton_grpc, f"127.0.0.1:{kcfg.grpc_port}", png),
        ):
            tensor = module.InferInput("image", [1], "BYTES")
            tensor.set_data_from_numpy(np.array([image], dtype=np.object_))
            answer = module.InferenceServerClient(address).infer(
                "classifier-onnx", [tensor], headers={"authorization": f"Bearer {key}"}
            )
            assert json.loads(answer.as_numpy("response")[0]) == torchserve_answer, module.__name__
        assert Client.from_run_dir(kcfg.run_dir).predict("classifier-onnx", png)[1] == torchserve_answer  # v1
    finally:
        stop(kcfg.run_dir, log=lambda m: None)


def test_cli_archive_start_predict_stop(tmp_path):
    runner = CliRunner()
    store, run_dir = tmp_path / "store", tmp_path / "run"
    result = runner.invoke(
        serve_cli,
        ["archive", "dqn", "--store", str(store), "--exports", str(tmp_path / "exports"), "--runtime", "torchscript"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.strip().splitlines()[-1])["name"] == "dqn"
    ports = [str(free_port()) for _ in range(3)]
    try:
        started = runner.invoke(
            serve_cli,
            [
                "start",
                "--store",
                str(store),
                "--run-dir",
                str(run_dir),
                "--port",
                ports[0],
                "--management-port",
                ports[1],
                "--metrics-port",
                ports[2],
                "--verbose-logs",
            ],
        )
        assert started.exit_code == 0, started.output
        assert "key_file.json" in started.output
        # --verbose-logs: TorchServe's own logging (the quiet default is tested on the shared server)
        assert (
            not (run_dir / "log4j2.xml").exists() and "metrics_mode=log" in (run_dir / "config.properties").read_text()
        )
        request = tmp_path / "state.json"
        request.write_text(json.dumps({"state": [0, 0, 0, 0]}))
        answer = runner.invoke(serve_cli, ["predict", "dqn", str(request), "--run-dir", str(run_dir)])
        assert answer.exit_code == 0 and "HTTP 200" in answer.output and "q_values" in answer.output
        scripted = runner.invoke(serve_cli, ["predict", "dqn", str(request), "--run-dir", str(run_dir), "--json"])
        row = json.loads(scripted.output)
        assert scripted.exit_code == 0 and row["status"] == 200 and row["file"] == str(request)
        assert len(row["answer"]["q_values"]) == 2 and row["latency_ms"] > 0
        again = runner.invoke(
            serve_cli, ["start", "--store", str(store), "--run-dir", str(run_dir), "--port", ports[0]]
        )
        assert again.exit_code != 0 and "already running" in again.output
    finally:
        stopped = runner.invoke(serve_cli, ["stop", "--run-dir", str(run_dir)])
    assert stopped.exit_code == 0 and "stopped" in stopped.output
    assert not (run_dir / "tmp" / ".model_server.pid").exists()


def test_missing_java_is_explained(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # a PATH without java
    with pytest.raises(ServingError, match="Java 17"):
        java_version()
    with pytest.raises(ServingError, match="Java 17"):
        start(ServerConfig(run_dir=tmp_path / "run", store=tmp_path, models=["x"]))


def test_demo_trains_then_serves_with_train(tmp_path):
    result = CliRunner().invoke(
        serve_cli, ["demo", "--train", "--out", str(tmp_path / "demo"), "--requests", "40", "--port", str(free_port())]
    )
    assert result.exit_code == 0, result.output
    assert "[1/5] training mnist-cnn" in result.output
    assert "TorchServe stopped" in result.output and "40 requests: accuracy" in result.output
    accuracy = float(result.output.split("accuracy ")[-1].split(",")[0])
    assert accuracy >= 0.85
    assert not os.path.exists(tmp_path / "demo" / "serve" / "tmp" / ".model_server.pid")


def test_demo_serves_the_shipped_weights_without_training(tmp_path, monkeypatch):
    """A fresh machine (no dataset): the demo classifies the 500 real MNIST test digits shipped with the
    package, at the card's accuracy (within 2 points)."""
    import zoo

    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    result = CliRunner().invoke(
        serve_cli, ["demo", "--out", str(tmp_path / "demo"), "--requests", "500", "--port", str(free_port())]
    )
    assert result.exit_code == 0, result.output
    assert "the shipped trained weights mnist-cnn.mnist" in result.output and "training" not in result.output
    assert "500 MNIST test digits shipped with the package" in result.output
    assert not (tmp_path / "demo" / "train").exists()
    accuracy = float(result.output.split("accuracy ")[-1].split(",")[0])
    assert abs(accuracy - zoo.get_weights("mnist-cnn.mnist").metrics["test_accuracy"]) <= 0.02


def test_the_shipped_digits_are_the_first_mnist_test_digits(data_dir):
    from serving.demo import demo_digits

    shipped, shipped_labels, _ = demo_digits(None, 500)
    real, real_labels, where = demo_digits(data_dir, 500)
    assert shipped.dtype == np.uint8 and shipped.shape == (500, 28, 28) and "MNIST test" in where
    assert np.array_equal(shipped, real) and np.array_equal(shipped_labels, real_labels)
