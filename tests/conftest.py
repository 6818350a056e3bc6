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
