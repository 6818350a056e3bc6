"""Process helpers both serving engines use: ports, the run folder's PID file and state file, waiting until
models answer, stopping with a deadline, and log tails."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from training.machine import pid_alive

from .client import Client
from .config import ServerConfig, ServingError

STATE_NAME = "server.json"


def port_free(host: str, port: int) -> bool:
    """Whether ``port`` on ``host`` can be bound now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port on ``host`` that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def require_free_ports(host: str, ports: Iterable[tuple[int, str]]) -> None:
    """ServingError naming the option to change for the first ``(port, option)`` already in use."""
    for port, option in ports:
        if not port_free(host, port):
            raise ServingError(f"port {port} on {host} is in use; choose another with {option}")


def pid_file(run_dir: Path) -> Path:
    """Where the run folder's server records its process id (TorchServe's own place, under TMPDIR)."""
    return run_dir / "tmp" / ".model_server.pid"


def read_pid(run_dir: Path) -> int | None:
    try:
        return int(pid_file(run_dir).read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int | None) -> bool:
    return pid is not None and pid_alive(pid)


def initial_state(cfg: ServerConfig, run_dir: Path, key_file: Path) -> dict[str, Any]:
    """What ``server.json`` records of a server being started (``pid`` is added once it is up)."""
    return {
        **{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
        "run_dir": str(run_dir),
        "key_file": str(key_file),
        "started": time.time(),
    }


def write_state(run_dir: Path, state: dict[str, Any]) -> None:
    (run_dir / STATE_NAME).write_text(json.dumps(state, indent=2))


def read_state(run_dir: Path) -> dict[str, Any] | None:
    """The state file of the server last started in ``run_dir``; None when there is none (or it is unreadable)."""
    try:
        state = json.loads((run_dir / STATE_NAME).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def wait_until_ready(
    models: Iterable[str],
    timeout_s: float,
    connect: Callable[[], Client | None],
    ready: Callable[[Client, str], bool],
    running: Callable[[], bool],
    log: Callable[[str], None],
) -> set[str]:
    """Poll until every model in ``models`` is ready, the server stops ``running`` or ``timeout_s`` passes; return
    the models still not ready (empty: all up). ``connect`` gives a client once the server can take one."""
    waiting = set(models)
    client: Client | None = None
    deadline = time.time() + timeout_s
    try:
        while time.time() < deadline and running():
            if client is None:
                client = connect()
            if client is not None:
                try:
                    if client.ping():
                        for name in sorted(waiting):
                            if ready(client, name):
                                waiting.discard(name)
                                log(f"  {name} is up")
                        if not waiting:
                            return waiting
                except OSError:
                    pass
            time.sleep(0.25)
        return waiting
    finally:
        if client is not None:
            client.close()


def wait_or_kill(
    pid: int, timeout_s: float, name: str, log: Callable[[str], None], kill: Callable[[], None] | None = None
) -> None:
    """Wait up to ``timeout_s`` for ``pid`` to exit, then kill it (``kill``, or SIGKILL to ``pid``) and wait."""
    deadline = time.time() + timeout_s
    while alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    if alive(pid):
        log(f"{name} (pid {pid}) did not stop in {timeout_s:.0f} s; killing it")
    if kill is not None:
        kill()
    elif alive(pid):
        os.kill(pid, signal.SIGKILL)
    while alive(pid):
        time.sleep(0.1)


def log_tail(run_dir: Path, names: Iterable[str], lines: int = 40) -> str:
    """The last ``lines`` of each log ``names`` of the run folder."""
    parts = []
    for name in names:
        path = run_dir / "logs" / name
        if path.is_file():
            parts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(parts)
