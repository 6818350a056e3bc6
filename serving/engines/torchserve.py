"""The TorchServe engine (the default): ``config.properties`` and a quiet log4j2 configuration written into
the run folder, ``torchserve --start``, and TorchServe's own PID file and key file there."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..archive import find_tool
from ..client import Client
from ..config import ServerConfig, ServingError
from ..process import (
    alive,
    free_port,
    read_pid,
    require_free_ports,
    wait_or_kill,
    wait_until_ready,
)
from . import Engine

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
        raise ServingError(
            "TorchServe needs Java 17 or newer and `java` is not on PATH. "
            "Install it (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) and retry."
        )
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


def write_config(cfg: ServerConfig) -> Path:
    """``config.properties`` for this run (absolute paths; batching per model)."""
    run_dir = cfg.run_dir.resolve()
    store = cfg.store.resolve()
    models = {
        name: {
            "1.0": {
                "defaultVersion": True,
                "marName": f"{name}.mar",
                "minWorkers": cfg.workers,
                "maxWorkers": cfg.workers,
                "batchSize": cfg.batch_size,
                "maxBatchDelay": cfg.max_batch_delay_ms,
                "responseTimeout": cfg.response_timeout_s,
            }
        }
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
""".format(
    access=_ROLLING.format(name="access_log", pattern="%d{ISO8601} - %m%n"),
    model=_ROLLING.format(name="model_log", pattern="%d{ISO8601} [%-5p] %t - %m%n"),
    ts=_ROLLING.format(name="ts_log", pattern="%d{ISO8601} [%-5p] %t %c - %m%n"),
)


def server_env(run_dir: Path, max_request_mb: int = 8, threads: int | None = None) -> dict[str, str]:
    """TMPDIR (the PID file) and TEMP (the JVM's temp dir: the workers' unix sockets) point into the run
    folder, so servers of different run folders never share or fight over them."""
    tmp = run_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if len(str(tmp / ".ts.sock.65535")) > 100:  # unix socket paths are limited to ~108 bytes
        raise ServingError(
            f"run folder path too long for TorchServe's worker sockets: {run_dir}; use a shorter --run-dir"
        )
    env = dict(os.environ)
    env.update(
        {
            "TMPDIR": str(tmp),
            "TEMP": str(tmp),
            "LOG_LOCATION": str(run_dir / "logs"),
            "METRICS_LOCATION": str(run_dir / "logs"),
            "ZOO_MAX_REQUEST_MB": str(max_request_mb),
        }
    )
    if threads:
        env["ZOO_THREADS"] = str(threads)
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    return env


def torchserve_command() -> str:
    try:
        return find_tool("torchserve")
    except FileNotFoundError as e:
        raise ServingError(str(e)) from None


class TorchServe(Engine):
    """TorchServe 0.12 with token authorisation on and model management off."""

    name = "torchserve"
    label = "TorchServe"
    log_names = ("model_log.log", "ts_log.log")
    stop_timeout_s = 60

    def require(self) -> None:
        java_version()

    def start(self, cfg: ServerConfig, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> dict[str, Any]:
        require_free_ports(
            cfg.host,
            ((cfg.port, "--port"), (cfg.management_port, "--management-port"), (cfg.metrics_port, "--metrics-port")),
        )
        config = write_config(cfg)
        key_file = run_dir / "key_file.json"
        key_file.unlink(missing_ok=True)
        cmd = [
            torchserve_command(),
            "--start",
            "--ncs",
            "--model-store",
            str(cfg.store.resolve()),
            "--ts-config",
            str(config),
        ]
        if not cfg.verbose_logs:
            (run_dir / "log4j2.xml").write_text(QUIET_LOG_CONFIG)
            cmd += ["--log-config", str(run_dir / "log4j2.xml")]
        (run_dir / "logs").mkdir(exist_ok=True)
        console = run_dir / "logs" / "torchserve.out"
        with open(console, "ab") as out:  # not a pipe: the Java server inherits it and never closes it
            code = subprocess.call(
                cmd,
                cwd=run_dir,
                env=server_env(run_dir, cfg.max_request_mb, cfg.threads()),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                timeout=120,
            )
        if code != 0:
            raise ServingError(f"torchserve --start failed (exit {code}): {console.read_text()[-1500:]}")

        def connect() -> Client | None:
            if not key_file.is_file():
                return None
            try:
                return Client.from_run_dir(run_dir)
            except ValueError:  # still being written past read_token's patience: look again next round
                return None

        def running() -> bool:  # TorchServe writes its PID file a moment after `--start` returns
            return read_pid(run_dir) is None or alive(read_pid(run_dir))

        waiting = wait_until_ready(
            cfg.models, timeout_s, connect, lambda c, name: c.describe(name)[0] == 200, running, log
        )
        state = self.finish_start(cfg, run_dir, key_file, waiting, timeout_s)
        key_file.chmod(0o600)  # the keys: readable by their owner only
        return state

    def stop(self, pid: int, run_dir: Path, timeout_s: float, log: Callable[[str], None]) -> None:
        if not alive(pid):  # gone already: nothing to ask `torchserve --stop` for
            return
        subprocess.call(
            [torchserve_command(), "--stop"],
            cwd=run_dir,
            env=server_env(run_dir),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            timeout=60,
        )
        wait_or_kill(pid, timeout_s, self.label, log)

    def addresses(self, state: dict[str, Any]) -> dict[str, str]:
        return {
            "management": f"http://{state['host']}:{state['management_port']}",
            "metrics": f"http://{state['host']}:{state['metrics_port']}",
        }
