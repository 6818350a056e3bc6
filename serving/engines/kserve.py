"""The KServe engine (``zoo-serve start --engine kserve``): KServe's model server with the zoo's request core
(:mod:`handlers.kserve_server` around :mod:`handlers.engine_kserve`), on loopback, with an access key, from the same archives as TorchServe.
Everything it writes (unpacked models, key, logs, PID) stays in the run folder."""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive import unpack
from ..client import Client, read_token
from ..config import ServerConfig, ServingError
from ..process import (
    pid_file,
    require_free_ports,
    wait_or_kill,
    wait_until_ready,
)
from . import Engine

LOG_NAME = "kserve.log"
#: The engine's own output before its logging is configured (start-up errors); everything else goes to LOG_NAME.
OUT_NAME = "kserve.out"
#: The log is rotated at this size and gzipped; this many older files are kept (TorchServe's policy).
LOG_MAX_MB, LOG_BACKUPS = 100, 5


def write_key(run_dir: Path) -> Path:
    """A fresh inference key in TorchServe's key-file layout, readable by its owner only."""
    path = run_dir / "key_file.json"
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"inference": {"key": secrets.token_urlsafe(24)}}, f)
    return path


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)  # the engine leads its own session: this reaches its worker processes too
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class KServe(Engine):
    """KServe's model server in its own process (and session), one per run folder."""

    name = "kserve"
    label = "the KServe engine"
    log_names = (OUT_NAME, LOG_NAME)
    stop_timeout_s = 30

    def __init__(self) -> None:
        #: Engines this process started, by pid: kept (a dropped Popen of a running process warns), reaped on stop.
        self.started: dict[int, subprocess.Popen] = {}

    def require(self) -> None:
        """The kserve extra is installed (not imported here: the engine runs in its own process)."""
        if importlib.util.find_spec("kserve") is None:
            raise ServingError("the KServe engine needs the kserve extra: pip install 'torch-model-zoo[kserve]'")

    def start(self, cfg: ServerConfig, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> dict[str, Any]:
        require_free_ports(cfg.host, ((cfg.port, "--port"), (cfg.grpc_port, "--grpc-port")))
        dirs = []
        for name in cfg.models:
            target = run_dir / "models" / name
            if target.exists():
                shutil.rmtree(target)
            dirs.append(unpack(cfg.store / f"{name}.mar", target))
        key_file = write_key(run_dir)
        cmd = [
            sys.executable,
            "-m",
            "handlers.kserve_server",
            "--host",
            cfg.host,
            "--http-port",
            str(cfg.port),
            "--grpc-port",
            str(cfg.grpc_port),
            "--workers",
            str(cfg.workers),
            "--max-request-mb",
            str(cfg.max_request_mb),
            "--key-file",
            str(key_file),
            "--log-file",
            str(run_dir / "logs" / LOG_NAME),
            "--log-max-mb",
            str(LOG_MAX_MB),
            "--log-backups",
            str(LOG_BACKUPS),
        ]
        if cfg.verbose_logs:
            cmd.append("--access-log")
        for d in dirs:
            cmd += ["--model-dir", str(d)]
        env = dict(os.environ, ZOO_THREADS=str(cfg.threads()), ZOO_MAX_REQUEST_MB=str(cfg.max_request_mb))
        (run_dir / "logs").mkdir(exist_ok=True)
        (run_dir / "tmp").mkdir(exist_ok=True)
        with open(run_dir / "logs" / OUT_NAME, "ab") as out:  # what the process prints before its logging is set up
            proc = subprocess.Popen(
                cmd,
                cwd=run_dir,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started[proc.pid] = proc
        pid_file(run_dir).write_text(str(proc.pid))
        client = Client(cfg.host, cfg.port, read_token(run_dir), engine="kserve")
        waiting = wait_until_ready(
            cfg.models,
            timeout_s,
            lambda: client,
            lambda c, name: c.request("GET", f"/v2/models/{name}/ready", timeout=5)[0] == 200,
            lambda: proc.poll() is None,
            log,
        )
        return self.finish_start(cfg, run_dir, key_file, waiting, timeout_s)

    def stop(self, pid: int, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> None:
        """SIGTERM to the engine's session, then SIGKILL past ``timeout_s`` (and to worker processes left behind)."""
        _signal_group(pid, signal.SIGTERM)
        wait_or_kill(pid, timeout_s, self.label, log, kill=lambda: _signal_group(pid, signal.SIGKILL))
        if pid in self.started:
            self.started.pop(pid).wait(timeout=10)

    def addresses(self, state: dict[str, Any]) -> dict[str, str]:
        return {"grpc": f"{state['host']}:{state['grpc_port']}"}
