"""Start, watch and stop a model server safely: loopback only, token authorisation on, model management
off, and every file it writes (PID file, key file, logs, config) inside one run folder.

Two engines serve the same archives (:mod:`serving.engines`): TorchServe (the default) and KServe's model
server (the Open Inference Protocol over REST and gRPC, and KServe v1). This module picks one by name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import Client
from .config import ServerConfig, ServingError
from .engines import Engine
from .engines.kserve import KServe
from .engines.torchserve import TorchServe, java_version
from .process import STATE_NAME, alive, free_port, pid_file, read_pid, read_state

__all__ = [
    "ENGINES",
    "ServerConfig",
    "ServingError",
    "check_models",
    "free_port",
    "java_version",
    "start",
    "status",
    "stop",
]

#: Engine name → engine (``zoo-serve start --engine``); the first is the default.
ENGINES: dict[str, Engine] = {engine.name: engine for engine in (TorchServe(), KServe())}


def engine(name: str) -> Engine:
    try:
        return ENGINES[name]
    except KeyError:
        raise ServingError(f"unknown engine {name!r}: one of {', '.join(ENGINES)}") from None


def check_models(cfg: ServerConfig) -> None:
    """Every model named has an archive in the store, and there is at least one."""
    missing = [m for m in cfg.models if not (cfg.store / f"{m}.mar").is_file()]
    if missing:
        raise ServingError(
            f"not in {cfg.store}: {', '.join(m + '.mar' for m in missing)} (create them with `zoo-serve archive`)"
        )
    if not cfg.models:
        raise ServingError(f"no models to serve: name them, or archive some into {cfg.store}")


def start(cfg: ServerConfig, timeout_s: float = 180, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the engine for ``cfg.models`` and return once each one answers; raise with the log tail if not."""
    chosen = engine(cfg.engine)
    run_dir = cfg.run_dir.resolve()
    if alive(read_pid(run_dir)):
        raise ServingError(
            f"a server of this run folder is already running (pid {read_pid(run_dir)}); "
            f"`zoo-serve stop --run-dir {cfg.run_dir}` first"
        )
    (run_dir / STATE_NAME).unlink(missing_ok=True)  # a stale state file would send `stop` to the wrong engine
    chosen.require()
    run_dir.mkdir(parents=True, exist_ok=True)
    check_models(cfg)
    return chosen.start(cfg, run_dir, timeout_s, log)


def _engine_of(run_dir: Path) -> Engine:
    """The engine the run folder's server was started with (TorchServe's when unrecorded)."""
    name = str((read_state(run_dir) or {}).get("engine", "torchserve"))
    return ENGINES.get(name, ENGINES["torchserve"])


def stop(run_dir: Path, timeout_s: float = 60, log: Callable[[str], None] = print) -> bool:
    """Stop the server of ``run_dir`` and wait until its processes are gone. False if none ran."""
    run_dir = run_dir.resolve()
    pid = read_pid(run_dir)
    running = pid is not None and alive(pid)
    if running:
        assert pid is not None
        _engine_of(run_dir).stop(pid, run_dir, timeout_s, log)
    pid_file(run_dir).unlink(missing_ok=True)
    return running


def status(run_dir: Path) -> dict[str, Any]:
    """What runs in ``run_dir``: engine, addresses, key file, and each model's description when it is up."""
    run_dir = run_dir.resolve()
    pid = read_pid(run_dir)
    info: dict[str, Any] = {"run_dir": str(run_dir), "running": alive(pid), "pid": pid}
    state = read_state(run_dir)
    if state is None:
        return info
    info.update(
        {
            "engine": state.get("engine", "torchserve"),
            "inference": f"http://{state['host']}:{state['port']}",
            "key_file": state["key_file"],
            "models": {},
        }
    )
    info.update(_engine_of(run_dir).addresses(state))
    if info["running"]:
        with Client.from_run_dir(run_dir) as client:
            info["healthy"] = client.ping()
            for name in state["models"]:
                code, body, _ = client.describe(name)
                info["models"][name] = body if code == 200 else {"status": code}
    return info
