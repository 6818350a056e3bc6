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
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .client import Client, read_token
from .server import (
    ServerConfig,
    ServingError,
    _alive,
    _port_free,
    initial_state,
    log_tail,
)

LOG_NAME = "kserve.log"
#: The engine's own output before its logging is configured (start-up errors); everything else goes to LOG_NAME.
OUT_NAME = "kserve.out"
#: The log is rotated at this size and gzipped; this many older files are kept (TorchServe's policy).
LOG_MAX_MB, LOG_BACKUPS = 100, 5
#: Engines this process started, by pid: kept (a dropped Popen of a running process warns) and reaped on stop.
_STARTED: dict[int, subprocess.Popen] = {}


def unpack(mar: Path, into: Path) -> Path:
    """A model archive unpacked as a KServe model directory (what TorchServe unpacks, too)."""
    try:
        with zipfile.ZipFile(mar) as archive:
            names = archive.namelist()
            if "serving.json" not in names or "export.json" not in names:
                raise ServingError(f"{mar} is not a zoo archive (no serving.json/export.json); "
                                          "rebuild it with `zoo-serve archive`")
            root = into.resolve()
            for member in names:  # no absolute paths or .. in an archive we unpack
                if not (into / member).resolve().is_relative_to(root):
                    raise ServingError(f"{mar}: unsafe path in archive: {member[:80]}")
            archive.extractall(into)
    except zipfile.BadZipFile:
        raise ServingError(f"{mar} is not a readable archive (corrupt or truncated); rebuild it with "
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


def require() -> None:
    """The kserve extra is installed (not imported here: the engine runs in its own process)."""
    if importlib.util.find_spec("kserve") is None:
        raise ServingError("the KServe engine needs the kserve extra: pip install 'torch-model-zoo[kserve]'")


def start(cfg: ServerConfig, run_dir: Path, timeout_s: float = 180, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start KServe's model server for ``cfg.models`` in ``run_dir`` (``server.start`` has checked the run folder
    and the archives); return once every model is ready."""
    grpc_port = cfg.grpc_port
    for port, option in ((cfg.port, "--port"), (grpc_port, "--grpc-port")):
        if not _port_free(cfg.host, port):
            raise ServingError(f"port {port} on {cfg.host} is in use; choose another with {option}")
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
           "--key-file", str(key_file), "--log-file", str(run_dir / "logs" / LOG_NAME),
           "--log-max-mb", str(LOG_MAX_MB), "--log-backups", str(LOG_BACKUPS)]
    if cfg.verbose_logs:
        cmd.append("--access-log")
    for d in dirs:
        cmd += ["--model-dir", str(d)]
    env = dict(os.environ, ZOO_THREADS=str(threads), ZOO_MAX_REQUEST_MB=str(cfg.max_request_mb))
    (run_dir / "logs").mkdir(exist_ok=True)
    (run_dir / "tmp").mkdir(exist_ok=True)
    with open(run_dir / "logs" / OUT_NAME, "ab") as out:  # what the process prints before its logging is set up
        proc = subprocess.Popen(cmd, cwd=run_dir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    _STARTED[proc.pid] = proc
    (run_dir / "tmp" / ".model_server.pid").write_text(str(proc.pid))
    state = {**initial_state(cfg, run_dir, key_file), "pid": proc.pid}
    waiting = set(cfg.models)
    deadline = time.time() + timeout_s
    with Client(cfg.host, cfg.port, read_token(run_dir), engine="kserve") as client:
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
    tail = log_tail(run_dir, names=(OUT_NAME, LOG_NAME))
    terminate(proc.pid, log=lambda m: None)
    (run_dir / "tmp" / ".model_server.pid").unlink(missing_ok=True)
    raise ServingError(f"the KServe engine did not bring up {sorted(waiting)} in {timeout_s:.0f} s.\n{tail}")


def terminate(pid: int, timeout_s: float = 30, log: Callable[[str], None] = print) -> None:
    """Stop the engine ``pid`` and its worker processes: SIGTERM, then SIGKILL past ``timeout_s``."""
    _signal_group(pid, signal.SIGTERM)
    deadline = time.time() + timeout_s
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        log(f"the KServe engine (pid {pid}) did not stop in {timeout_s:.0f} s; killing it")
    _signal_group(pid, signal.SIGKILL)  # worker processes left behind, if any
    if pid in _STARTED:
        _STARTED.pop(pid).wait(timeout=10)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the engine leads its own session: this reaches its worker processes too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
