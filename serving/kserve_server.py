"""Start, watch and stop the KServe engine (``zoo-serve start --engine kserve``): KServe's model server
with the zoo's request core (:mod:`handlers.engine_kserve`), on loopback, with an access key, from the
same archives as TorchServe. Everything it writes (unpacked models, key, logs, PID) stays in the run folder.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from .client import Client

if TYPE_CHECKING:
    from .server import ServerConfig

LOG_NAME = "kserve.log"
#: Engines this process started, by pid: kept (a dropped Popen of a running process warns) and reaped on stop.
_STARTED: dict[int, subprocess.Popen] = {}


def _server() -> Any:
    from . import (
        server,  # the shared helpers (pid, ports, errors); imported late: server dispatches here
    )

    return server


def unpack(mar: Path, into: Path) -> Path:
    """A model archive unpacked as a KServe model directory (what TorchServe unpacks, too)."""
    server = _server()
    try:
        with zipfile.ZipFile(mar) as archive:
            names = archive.namelist()
            if "serving.json" not in names or "export.json" not in names:
                raise server.ServingError(f"{mar} is not a zoo archive (no serving.json/export.json); "
                                          "rebuild it with `zoo-serve archive`")
            root = into.resolve()
            for member in names:  # no absolute paths or .. in an archive we unpack
                if not (into / member).resolve().is_relative_to(root):
                    raise server.ServingError(f"{mar}: unsafe path in archive: {member[:80]}")
            archive.extractall(into)
    except zipfile.BadZipFile:
        raise server.ServingError(f"{mar} is not a readable archive (corrupt or truncated); rebuild it with "
                                  "`zoo-serve archive`") from None
    return into


def write_key(run_dir: Path) -> Path:
    """A fresh inference key in TorchServe's key-file layout, readable by its owner only."""
    path = run_dir / "key_file.json"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"inference": {"key": secrets.token_urlsafe(24)}}, f)
    return path


def start(cfg: ServerConfig, timeout_s: float = 180, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start KServe's model server for ``cfg.models``; return once every model is ready."""
    server = _server()
    if importlib.util.find_spec("kserve") is None:  # not imported here: the engine runs in its own process
        raise server.ServingError("the KServe engine needs the kserve extra: pip install 'torch-model-zoo[kserve]'")
    run_dir = cfg.run_dir.resolve()
    run_dir.mkdir(parents=True, exist_ok=True)
    pid = server._pid(run_dir)
    if server._alive(pid):
        raise server.ServingError(f"a server of this run folder is already running (pid {pid}); "
                                  f"`zoo-serve stop --run-dir {cfg.run_dir}` first")
    server.check_models(cfg)
    grpc_port = cfg.grpc_port
    for port, option in ((cfg.port, "--port"), (grpc_port, "--grpc-port")):
        if not server._port_free(cfg.host, port):
            raise server.ServingError(f"port {port} on {cfg.host} is in use; choose another with {option}")
    models_dir = run_dir / "models"
    dirs = []
    for name in cfg.models:
        target = models_dir / name
        if target.exists():
            shutil.rmtree(target)
        dirs.append(unpack(cfg.store / f"{name}.mar", target))
    key_file = write_key(run_dir)
    threads = cfg.threads_per_worker or max(1, (os.cpu_count() or 1) // max(cfg.workers, 1))
    cmd = [sys.executable, "-m", "handlers.engine_kserve", "--host", cfg.host, "--http-port", str(cfg.port),
           "--grpc-port", str(grpc_port), "--workers", str(cfg.workers), "--max-request-mb", str(cfg.max_request_mb),
           "--key-file", str(key_file)]
    for d in dirs:
        cmd += ["--model-dir", str(d)]
    env = dict(os.environ, ZOO_THREADS=str(threads), ZOO_MAX_REQUEST_MB=str(cfg.max_request_mb))
    (run_dir / "logs").mkdir(exist_ok=True)
    (run_dir / "tmp").mkdir(exist_ok=True)
    with open(run_dir / "logs" / LOG_NAME, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _STARTED[proc.pid] = proc
    (run_dir / "tmp" / ".model_server.pid").write_text(str(proc.pid))
    state = {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
             "run_dir": str(run_dir), "key_file": str(key_file), "started": time.time(), "pid": proc.pid}
    waiting = set(cfg.models)
    deadline = time.time() + timeout_s
    with Client(cfg.host, cfg.port, json.loads(key_file.read_text())["inference"]["key"], engine="kserve") as client:
        while time.time() < deadline and proc.poll() is None:
            try:
                if client.ping():
                    for name in sorted(waiting):
                        if client.request("GET", f"/v2/models/{name}/ready", timeout=5)[0] == 200:
                            waiting.discard(name)
                            log(f"  {name} is up")
                if not waiting:
                    (run_dir / "server.json").write_text(json.dumps(state, indent=2))
                    return state
            except OSError:
                pass
            time.sleep(0.25)
    tail = log_tail(run_dir)
    stop(run_dir, log=lambda m: None)
    raise server.ServingError(f"the KServe engine did not bring up {sorted(waiting)} in {timeout_s:.0f} s.\n{tail}")


def stop(run_dir: Path, timeout_s: float = 30, log: Callable[[str], None] = print) -> bool:
    """Stop the engine of ``run_dir`` and its worker processes; False if none ran."""
    server = _server()
    run_dir = run_dir.resolve()
    pid_file = run_dir / "tmp" / ".model_server.pid"
    pid = server._pid(run_dir)
    if not server._alive(pid):
        pid_file.unlink(missing_ok=True)
        return False
    assert pid is not None
    _signal_group(pid, signal.SIGTERM)
    deadline = time.time() + timeout_s
    while server._alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    if server._alive(pid):
        log(f"the KServe engine (pid {pid}) did not stop in {timeout_s:.0f} s; killing it")
    _signal_group(pid, signal.SIGKILL)  # worker processes left behind, if any
    if pid in _STARTED:
        _STARTED.pop(pid).wait(timeout=10)
    pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the engine leads its own session: this reaches its worker processes too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def log_tail(run_dir: Path, lines: int = 40) -> str:
    path = run_dir / "logs" / LOG_NAME
    if not path.is_file():
        return ""
    return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
