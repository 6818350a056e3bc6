"""Start, watch and stop a model server safely: loopback only, token authorisation on, model management
off, and every file it writes (PID file, key file, logs, config) inside one run folder.

Two engines serve the same archives: TorchServe (the default, here) and KServe's model server
(:mod:`.kserve_server`: the Open Inference Protocol over REST and gRPC, and KServe v1)."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from training.machine import pid_alive
from zoo.errors import ZooError

from .archive import find_tool
from .client import Client


class ServingError(ZooError):
    """A server cannot start, or is missing, or misconfigured; the message says what to do."""


ENGINES = ("torchserve", "kserve")


@dataclass
class ServerConfig:
    """Everything ``zoo-serve start`` configures."""

    run_dir: Path = Path("runs/serve")
    engine: str = "torchserve"  # or "kserve"
    store: Path = Path("model_store")
    models: list[str] = field(default_factory=list)  # archive names in the store (NAME.mar)
    port: int = 8080
    management_port: int = 8081
    metrics_port: int = 8082
    grpc_ports: tuple[int, int] | None = None  # TorchServe's (inference, management); None: two free ports
    grpc_port: int = 8081  # the KServe engine's gRPC (Open Inference Protocol) port
    workers: int = 1
    batch_size: int = 1
    max_batch_delay_ms: int = 5
    response_timeout_s: int = 60
    max_request_mb: int = 8  # the handler's limit (a JSON 413 above it); see frontend_limit_mb
    threads_per_worker: int | None = None  # intra-op threads per worker; None: CPUs // workers
    host: str = "127.0.0.1"
    verbose_logs: bool = False  # TorchServe's own logging (DEBUG, ~30 lines a request) and metrics as log lines


#: Bodies up to this size (or 4x the handler's limit, if larger) pass TorchServe's front end and reach the
#: handler, which answers a JSON 413 past ``--max-request-mb``; above it TorchServe itself answers 413
#: with an empty body, without reading the rest.
FRONTEND_MIN_MB = 64


def frontend_limit_mb(max_request_mb: int) -> int:
    """The request size TorchServe's front end accepts for a handler limit of ``max_request_mb``."""
    return max(FRONTEND_MIN_MB, 4 * max_request_mb)


def java_version() -> int:
    """Java's major version; ServingError with what to install when it is missing or too old."""
    java = shutil.which("java")
    if java is None:
        raise ServingError("TorchServe needs Java 17 or newer and `java` is not on PATH. "
                           "Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and retry.")
    out = subprocess.run([java, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not match:
        raise ServingError(f"could not read the Java version from `java -version`: {out.stderr.strip()[:200]}")
    major = int(match.group(1))
    if major == 1 and match.group(2):
        major = int(match.group(2))
    if major < 17:
        raise ServingError(f"TorchServe needs Java 17 or newer; found Java {major}. Install OpenJDK 17 and retry.")
    return major


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def write_config(cfg: ServerConfig) -> Path:
    """``config.properties`` for this run (absolute paths; batching per model)."""
    run_dir = cfg.run_dir.resolve()
    store = cfg.store.resolve()
    models = {
        name: {"1.0": {"defaultVersion": True, "marName": f"{name}.mar", "minWorkers": cfg.workers,
                       "maxWorkers": cfg.workers, "batchSize": cfg.batch_size, "maxBatchDelay": cfg.max_batch_delay_ms,
                       "responseTimeout": cfg.response_timeout_s}}
        for name in cfg.models
    }
    grpc = cfg.grpc_ports or (free_port(cfg.host), free_port(cfg.host))
    lines = [
        f"inference_address=http://{cfg.host}:{cfg.port}",
        f"management_address=http://{cfg.host}:{cfg.management_port}",
        f"metrics_address=http://{cfg.host}:{cfg.metrics_port}",
        # TorchServe always starts gRPC too: keep it on loopback and off the fixed default ports
        f"grpc_inference_address={cfg.host}",
        f"grpc_management_address={cfg.host}",
        f"grpc_inference_port={grpc[0]}",
        f"grpc_management_port={grpc[1]}",
        f"model_store={store}",
        f"load_models={','.join(f'{m}.mar' for m in cfg.models)}",
        f"models={json.dumps(models)}",
        "enable_model_api=false",
        "disable_token_authorization=false",
        f"max_request_size={frontend_limit_mb(cfg.max_request_mb) * 1024 * 1024}",
        f"max_response_size={4 * cfg.max_request_mb * 1024 * 1024}",
        "default_workers_per_model=1",
        "install_py_dep_per_model=false",
        # bodies reach the handler as bytes and it parses JSON strictly itself (TorchServe's decoding accepts
        # NaN and logs a traceback for every malformed body); the front end passes this to the workers
        "decode_input_request=false",
        "disable_system_metrics=true",
        f"job_queue_size={max(100, 4 * cfg.batch_size * cfg.workers)}",
        "async_logging=true",
        # metrics on the (loopback) metrics port in Prometheus format rather than as log lines
        f"metrics_mode={'log' if cfg.verbose_logs else 'prometheus'}",
    ]
    path = run_dir / "config.properties"
    path.write_text("\n".join(lines) + "\n")
    return path


_ROLLING = """
    <RollingFile name="{name}" fileName="${{env:LOG_LOCATION:-logs}}/{name}.log"
                 filePattern="${{env:LOG_LOCATION:-logs}}/{name}.%d{{yyyy-MM-dd}}.%i.log.gz">
      <PatternLayout pattern="{pattern}"/>
      <Policies><SizeBasedTriggeringPolicy size="100 MB"/><TimeBasedTriggeringPolicy/></Policies>
      <DefaultRolloverStrategy max="5">
        <!-- at most 5 gzipped files in all, whatever their day: the logs stay bounded however long it runs -->
        <Delete basePath="${{env:LOG_LOCATION:-logs}}" maxDepth="1">
          <IfFileName glob="{name}.*.log.gz"><IfAccumulatedFileCount exceeding="5"/></IfFileName>
        </Delete>
      </DefaultRolloverStrategy>
    </RollingFile>"""

#: TorchServe's built-in log4j2 configuration logs its own package at DEBUG, to ts_log twice (once more
#: through the root logger) and to the console, plus six host-metric lines per request: about 30 lines
#: per request, which cost its Java frontend more CPU than a small model's inference. This one keeps one
#: access-log line per request, what the workers print (model_log: load messages, tracebacks), start-up
#: and errors in ts_log, and drops the per-request chatter (metrics live on the Prometheus endpoint).
QUIET_LOG_CONFIG = """<?xml version="1.0" encoding="UTF-8"?>
<!-- written by zoo-serve start (start with verbose logs for TorchServe's own configuration) -->
<Configuration>
  <Appenders>{access}{model}{ts}
  </Appenders>
  <Loggers>
    <Logger name="ACCESS_LOG" level="info" additivity="false"><AppenderRef ref="access_log"/></Logger>
    <Logger name="MODEL_LOG" level="info" additivity="false">
      <RegexFilter regex="Backend received inference at.*" onMatch="DENY" onMismatch="NEUTRAL"/>
      <AppenderRef ref="model_log"/>
    </Logger>
    <Logger name="MODEL_METRICS" level="off"/>
    <Logger name="TS_METRICS" level="off"/>
    <Logger name="io.netty" level="error"/>
    <Logger name="org.apache" level="off"/>
    <!-- per-request INFO/DEBUG lines: response times, job ids, forwarded metric lines -->
    <Logger name="org.pytorch.serve.job" level="warn"/>
    <Logger name="org.pytorch.serve.wlm.WorkerThread" level="warn"/>
    <Logger name="org.pytorch.serve.wlm.BatchAggregator" level="warn"/>
    <Logger name="org.pytorch.serve.wlm.WorkerLifeCycle" level="warn"/>
    <Root level="info"><AppenderRef ref="ts_log"/></Root>
  </Loggers>
</Configuration>
""".format(access=_ROLLING.format(name="access_log", pattern="%d{ISO8601} - %m%n"),
           model=_ROLLING.format(name="model_log", pattern="%d{ISO8601} [%-5p] %t - %m%n"),
           ts=_ROLLING.format(name="ts_log", pattern="%d{ISO8601} [%-5p] %t %c - %m%n"))


def _env(run_dir: Path, max_request_mb: int = 8, threads: int | None = None) -> dict[str, str]:
    """TMPDIR (the PID file) and TEMP (the JVM's temp dir: the workers' unix sockets) point into the run
    folder, so servers of different run folders never share or fight over them."""
    tmp = run_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if len(str(tmp / ".ts.sock.65535")) > 100:  # unix socket paths are limited to ~108 bytes
        raise ServingError(f"run folder path too long for TorchServe's worker sockets: {run_dir}; use a shorter --run-dir")
    env = dict(os.environ)
    env.update({"TMPDIR": str(tmp), "TEMP": str(tmp), "LOG_LOCATION": str(run_dir / "logs"),
                "METRICS_LOCATION": str(run_dir / "logs"), "ZOO_MAX_REQUEST_MB": str(max_request_mb)})
    if threads:
        env["ZOO_THREADS"] = str(threads)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def _torchserve() -> str:
    try:
        return find_tool("torchserve")
    except FileNotFoundError as e:
        raise ServingError(str(e)) from None


def _pid(run_dir: Path) -> int | None:
    path = run_dir / "tmp" / ".model_server.pid"
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    return pid is not None and pid_alive(pid)


def log_tail(run_dir: Path, lines: int = 40, names: tuple[str, ...] = ("model_log.log", "ts_log.log")) -> str:
    """The last ``lines`` of each log ``names`` of the run folder (TorchServe's by default)."""
    parts = []
    for name in names:
        path = run_dir / "logs" / name
        if path.is_file():
            parts.append(f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
    return "\n".join(parts)


def check_models(cfg: ServerConfig) -> None:
    """Every model named has an archive in the store, and there is at least one."""
    missing = [m for m in cfg.models if not (cfg.store / f"{m}.mar").is_file()]
    if missing:
        raise ServingError(f"not in {cfg.store}: {', '.join(m + '.mar' for m in missing)} "
                           f"(create them with `zoo-serve archive`)")
    if not cfg.models:
        raise ServingError(f"no models to serve: name them, or archive some into {cfg.store}")


def _engine(run_dir: Path) -> str:
    try:
        return str(json.loads((run_dir / "server.json").read_text()).get("engine", "torchserve"))
    except (OSError, ValueError):
        return "torchserve"


def start(cfg: ServerConfig, timeout_s: float = 180, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the engine for ``cfg.models`` and return once each one answers; raise with the log tail if not."""
    if cfg.engine not in ENGINES:
        raise ServingError(f"unknown engine {cfg.engine!r}: one of {', '.join(ENGINES)}")
    run_dir = cfg.run_dir.resolve()
    if _alive(_pid(run_dir)):
        raise ServingError(f"a server of this run folder is already running (pid {_pid(run_dir)}); "
                           f"`zoo-serve stop --run-dir {cfg.run_dir}` first")
    (run_dir / "server.json").unlink(missing_ok=True)  # a stale state file would send `stop` to the wrong engine
    if cfg.engine == "kserve":
        from . import kserve_server

        kserve_server.require()
    else:
        java_version()
    run_dir.mkdir(parents=True, exist_ok=True)
    check_models(cfg)
    if cfg.engine == "kserve":
        return kserve_server.start(cfg, run_dir, timeout_s, log)
    return _start_torchserve(cfg, run_dir, timeout_s, log)


def initial_state(cfg: ServerConfig, run_dir: Path, key_file: Path) -> dict[str, Any]:
    """What ``server.json`` records of a server being started (``pid`` is added once it is up)."""
    return {**{k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()},
            "run_dir": str(run_dir), "key_file": str(key_file), "started": time.time()}


def _start_torchserve(cfg: ServerConfig, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> dict[str, Any]:
    for port in (cfg.port, cfg.management_port, cfg.metrics_port):
        if not _port_free(cfg.host, port):
            raise ServingError(f"port {port} on {cfg.host} is in use; choose others with --port/--management-port/--metrics-port")
    config = write_config(cfg)
    for stale in ("key_file.json",):
        (run_dir / stale).unlink(missing_ok=True)
    cmd = [_torchserve(), "--start", "--ncs", "--model-store", str(cfg.store.resolve()), "--ts-config", str(config)]
    if not cfg.verbose_logs:
        (run_dir / "log4j2.xml").write_text(QUIET_LOG_CONFIG)
        cmd += ["--log-config", str(run_dir / "log4j2.xml")]
    (run_dir / "logs").mkdir(exist_ok=True)
    console = run_dir / "logs" / "torchserve.out"
    with open(console, "ab") as out:  # not a pipe: the Java server inherits it and never closes it
        threads = cfg.threads_per_worker or max(1, (os.cpu_count() or 1) // max(cfg.workers, 1))
        code = subprocess.call(cmd, cwd=run_dir, env=_env(run_dir, cfg.max_request_mb, threads), stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=120)
    if code != 0:
        raise ServingError(f"torchserve --start failed (exit {code}): {console.read_text()[-1500:]}")
    state = initial_state(cfg, run_dir, run_dir / "key_file.json")
    client = None
    deadline = time.time() + timeout_s
    waiting = set(cfg.models)
    while time.time() < deadline:
        if client is None and (run_dir / "key_file.json").is_file():
            try:
                client = Client.from_run_dir(run_dir)
            except ValueError:  # still being written past read_token's patience: look again next round
                pass
        if client is not None:
            try:
                if client.ping():
                    for name in sorted(waiting):
                        status, _, _ = client.describe(name)
                        if status == 200:
                            waiting.discard(name)
                            log(f"  {name} is up")
                if not waiting:
                    client.close()
                    (run_dir / "key_file.json").chmod(0o600)  # the keys: readable by their owner only
                    state["pid"] = _pid(run_dir)
                    (run_dir / "server.json").write_text(json.dumps(state, indent=2))
                    return state
            except OSError:
                pass
        if _pid(run_dir) is not None and not _alive(_pid(run_dir)):
            break
        time.sleep(0.25)
    if client is not None:
        client.close()
    tail = log_tail(run_dir)
    stop(run_dir, log=lambda m: None)
    raise ServingError(f"TorchServe did not bring up {sorted(waiting)} in {timeout_s:.0f} s.\n{tail}")


def stop(run_dir: Path, timeout_s: float = 60, log: Callable[[str], None] = print) -> bool:
    """Stop the server of ``run_dir`` and wait until its processes are gone. False if none ran."""
    run_dir = run_dir.resolve()
    pid = _pid(run_dir)
    if not _alive(pid):
        (run_dir / "tmp" / ".model_server.pid").unlink(missing_ok=True)
        return False
    assert pid is not None
    if _engine(run_dir) == "kserve":
        from . import kserve_server

        kserve_server.terminate(pid, timeout_s, log)
        (run_dir / "tmp" / ".model_server.pid").unlink(missing_ok=True)
        return True
    subprocess.call([_torchserve(), "--stop"], cwd=run_dir, env=_env(run_dir), stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=60)
    deadline = time.time() + timeout_s
    while _alive(pid) and time.time() < deadline:
        time.sleep(0.2)
    if _alive(pid):
        log(f"TorchServe (pid {pid}) did not stop in {timeout_s:.0f} s; killing it")
        os.kill(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    (run_dir / "tmp" / ".model_server.pid").unlink(missing_ok=True)
    return True


def status(run_dir: Path) -> dict[str, Any]:
    run_dir = run_dir.resolve()
    state_file = run_dir / "server.json"
    pid = _pid(run_dir)
    info: dict[str, Any] = {"run_dir": str(run_dir), "running": _alive(pid), "pid": pid}
    if not state_file.is_file():
        return info
    state = json.loads(state_file.read_text())
    engine = state.get("engine", "torchserve")
    info.update({"engine": engine, "inference": f"http://{state['host']}:{state['port']}", "key_file": state["key_file"],
                 "models": {}})
    if engine == "kserve":
        info["grpc"] = f"{state['host']}:{state['grpc_port']}"
    if info["running"]:
        with Client.from_run_dir(run_dir) as client:
            info["healthy"] = client.ping()
            for name in state["models"]:
                code, body, _ = client.describe(name)
                info["models"][name] = body if code == 200 else {"status": code}
    return info
