"""Shared fixtures. Real datasets come from ``$ZOO_DATA_DIR`` (``.ci/run`` sets it)."""

from __future__ import annotations

import os
from pathlib import Path

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
        record = export(source, root / "exports" / base, formats=["onnx", "torchscript"], log=lambda m: None)
        assert record["passed"]
        exports[base] = root / "exports" / base
        for runtime in SERVED_RUNTIMES:
            name = f"{base}-{runtime}"
            build_archive(exports[base], runtime=runtime, part=part, name=name, store=store, log=lambda m: None)
            names.append(name)
    return {"store": store, "exports": exports, "names": names}
