"""Shared fixtures. Real datasets come from ``$ZOO_DATA_DIR`` (``.ci/run`` sets it)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The real-data folder (``../shared/datasets`` in CI); tests using it skip when unset."""
    value = os.environ.get("ZOO_DATA_DIR")
    if not value:
        pytest.skip("ZOO_DATA_DIR is not set: real-data test skipped (.ci/run sets it to ../shared/datasets)")
    path = Path(value)
    if not path.is_dir():
        pytest.skip(f"ZOO_DATA_DIR={value} is not a directory")
    return path


#: Skip reasons that mean real data was not there. Where ``ZOO_REQUIRE_DATA`` is set (``.ci/run`` sets it when
#: ``../shared/datasets`` exists), any such skip fails the session: a suite that skipped its real-data tests proved
#: nothing about them.
DATA_SKIP_MARKERS = ("ZOO_DATA_DIR", "real-data", "real photo folders", "image tree under")


_SKIP_LINES = pytest.StashKey[list[str]]()


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    return str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = reporter.stats.get("skipped", [])
    for_data = [r for r in skipped if any(m in _skip_reason(r) for m in DATA_SKIP_MARKERS)]
    lines = [f"skipped: {len(skipped)} tests, {len(for_data)} of them for want of real data"]
    if for_data and os.environ.get("ZOO_REQUIRE_DATA"):
        lines.append(
            f"error: {len(for_data)} real-data tests skipped although ZOO_REQUIRE_DATA is set (the datasets "
            f"folder is there): {_skip_reason(for_data[0])}"
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    session.config.stash[_SKIP_LINES] = lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    for line in config.stash.get(_SKIP_LINES, []):
        terminalreporter.write_line(line, red=line.startswith("error"))


def png_bytes(array: np.ndarray) -> bytes:
    """An image array encoded as PNG bytes."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def digit_png(seed: int = 0) -> bytes:
    """A random 28x28 greyscale image (digit-model sized) as PNG bytes."""
    return png_bytes((np.random.default_rng(seed).random((28, 28)) * 255).astype(np.uint8))


#: (endpoint base name, export source, part): one model per kind of handler the zoo serves.
SERVED_MODELS = [
    ("classifier", "mnist-cnn", "model"),
    ("autoencoder", "autoencoder", "model"),
    ("dcgan", "dcgan", "generator"),
    ("vae", "vae", "decoder"),
    ("ngram", "ngram-sonnet", "model"),
    ("tagger", "pos-tagger-toy", "model"),
    ("dqn", "dqn", "model"),
    ("rnn", "rnn-regressor", "model"),
]
SERVED_RUNTIMES = ("onnx", "torchscript")


@pytest.fixture(scope="session")
def model_archives(tmp_path_factory) -> dict:
    """Every SERVED_MODELS entry exported (ONNX + TorchScript, parity-checked) and archived in both runtimes:
    ``{"store": Path, "exports": {base: Path}, "names": [archive names]}``. Text models get their
    vocabulary from a short real run."""
    from export.core import export
    from serving.archive import build_archive
    from training.engine import TrainConfig, Trainer

    root = tmp_path_factory.mktemp("archives")
    store = root / "store"
    exports: dict[str, Path] = {}
    names = []
    for base, source, part in SERVED_MODELS:
        if source in ("ngram-sonnet", "pos-tagger-toy"):
            out = root / "train" / source
            Trainer(TrainConfig(recipe=source, device="cpu", out=out, max_steps=30, quiet=True)).fit()
            source = str(out / "checkpoints" / "last.pt")
        record = export(
            source, root / "exports" / base, formats=["onnx", "torchscript"], log=lambda m: None, random_weights=True
        )
        assert record["passed"]
        exports[base] = root / "exports" / base
        for runtime in SERVED_RUNTIMES:
            name = f"{base}-{runtime}"
            build_archive(exports[base], runtime=runtime, part=part, name=name, store=store, log=lambda m: None)
            names.append(name)
    # int8: the DCGAN generator, statically quantised on its own noise (no dataset needed)
    build_archive(
        exports["dcgan"], runtime="onnx-int8", part="generator", name="dcgan-onnx-int8", store=store, log=lambda m: None
    )
    names.append("dcgan-onnx-int8")
    return {"store": store, "exports": exports, "names": names}


def hostile_corpus(seed: int = 0) -> list[tuple[str, bytes, str]]:
    """(endpoint base, body, content type): the hostile-input trial's kinds of request, plus random ones."""
    rng = np.random.default_rng(seed)
    corpus = [
        ("dqn", b'{"state": [1e39, 0, 0, 0]}', "application/json"),
        ("dqn", b'{"state": [0, 0, 0, NaN]}', "application/json"),
        ("dqn", b'{"state": [0, 0, 0, Infinity]}', "application/json"),
        ("tagger", b'{"sentence": ["the"]}', "application/json"),
        ("tagger", b'{"sentence": null}', "application/json"),
        ("ngram", b'{"context": [1, 2]}', "application/json"),
        ("dcgan", b'{"n": true}', "application/json"),
        ("classifier", b'{"data": [[0, 1], [2]]}', "application/json"),
        ("rnn", b'{"x": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json"),
        ("dqn", b'{"' + b"k" * 600_000 + b'": 1}', "application/json"),
        ("tagger", b"\xff\xfe not utf-8", "text/plain"),
        ("classifier", b"\x89PNG\r\n\x1a\n" + bytes(rng.integers(0, 256, 300, dtype=np.uint8)), "image/png"),
        ("autoencoder", b"[]", "application/json"),
        ("vae", b'"just a string"', "application/json"),
        ("rnn", b'{"x": [[1.0]], "h0": "zero"}', "application/json"),
    ]
    bases = [base for base, _, _ in SERVED_MODELS]
    for _ in range(40):
        base = bases[int(rng.integers(len(bases)))]
        kind = int(rng.integers(3))
        if kind == 0:
            body = bytes(rng.integers(0, 256, int(rng.integers(0, 600)), dtype=np.uint8))
        elif kind == 1:
            body = json.dumps({str(rng.integers(5)): rng.standard_normal(int(rng.integers(1, 6))).tolist()}).encode()
        else:
            body = json.dumps(
                {
                    "n": int(rng.integers(-5, 100)),
                    "state": [float(x) for x in rng.standard_normal(4) * 1e38],
                    "sentence": " ".join("w" * int(n) for n in rng.integers(1, 90, 5)),
                }
            ).encode()
        corpus.append((base, body, str(rng.choice(["application/json", "application/octet-stream", "text/plain"]))))
    return corpus
