"""The serving engines behind ``zoo-serve start --engine``: one module per engine, each with one
:class:`Engine` (TorchServe, KServe's model server), both serving the same archives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..config import ServerConfig


class Engine(Protocol):
    """What :mod:`serving.server` needs of an engine."""

    name: str

    def require(self) -> None:
        """ServingError saying what to install when the engine cannot run on this machine."""

    def start(self, cfg: ServerConfig, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> dict[str, Any]:
        """Start serving ``cfg.models`` from ``run_dir`` (checked and created); return the state once all answer."""

    def stop(self, pid: int, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> None:
        """Stop the engine's process ``pid`` and whatever it started; return once they are gone."""

    def addresses(self, state: dict[str, Any]) -> dict[str, str]:
        """The addresses ``zoo-serve status`` reports beyond the inference URL."""
