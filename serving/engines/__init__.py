"""The serving engines behind ``zoo-serve start --engine``: one module per engine, each with one
:class:`Engine` (TorchServe, KServe's model server), both serving the same archives."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ServerConfig, ServingError
from ..process import initial_state, log_tail, pid_file, read_pid, write_state


class Engine:
    """What :mod:`serving.server` needs of an engine; each engine overrides the four methods."""

    name: str
    #: How messages name the engine, the logs whose tail a failed start shows, and the stop deadline it then gives.
    label: str
    log_names: tuple[str, ...]
    stop_timeout_s: float

    def require(self) -> None:
        """ServingError saying what to install when the engine cannot run on this machine."""
        raise NotImplementedError

    def start(self, cfg: ServerConfig, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> dict[str, Any]:
        """Start serving ``cfg.models`` from ``run_dir`` (checked and created); return the state once all answer."""
        raise NotImplementedError

    def stop(self, pid: int, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> None:
        """Stop the engine's process ``pid`` and whatever it started; return once they are gone."""
        raise NotImplementedError

    def addresses(self, state: dict[str, Any]) -> dict[str, str]:
        """The addresses ``zoo-serve status`` reports beyond the inference URL."""
        raise NotImplementedError

    def finish_start(
        self, cfg: ServerConfig, run_dir: Path, key_file: Path, waiting: set[str], timeout_s: float
    ) -> dict[str, Any]:
        """After waiting for the models: the server's state, written to ``server.json``; or, when ``waiting`` still
        names models, the server stopped, its PID file removed and a ServingError with its logs' tail."""
        pid = read_pid(run_dir)
        if waiting:
            tail = log_tail(run_dir, self.log_names)
            if pid is not None:
                self.stop(pid, run_dir, self.stop_timeout_s, lambda m: None)
            pid_file(run_dir).unlink(missing_ok=True)
            raise ServingError(f"{self.label} did not bring up {sorted(waiting)} in {timeout_s:.0f} s.\n{tail}")
        state = {**initial_state(cfg, run_dir, key_file), "pid": pid}
        write_state(run_dir, state)
        return state
