"""What ``zoo-serve start`` configures, and the error every part of serving raises."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from zoo.errors import ZooError


class ServingError(ZooError):
    """A server cannot start, or is missing, or misconfigured; the message says what to do."""


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

    def threads(self) -> int:
        """Intra-op threads of each worker: the configured count, or the CPUs shared among the workers."""
        return self.threads_per_worker or max(1, (os.cpu_count() or 1) // max(self.workers, 1))
