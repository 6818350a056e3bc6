"""A log file that stays bounded when several processes write it (the KServe engine's REST workers).

:class:`BoundedFileHandler` keeps ``FILE`` under ``max_bytes`` and at most ``backups`` gzipped older files
(``FILE.1.gz`` newest), as TorchServe's log4j policy does (100 MB x 5). Every write takes an exclusive
``flock`` on ``FILE.lock``, reopens ``FILE`` when another process has rotated it, and rotates when the
record would pass the limit: the logs of any number of workers never exceed (backups + 1) x max_bytes.
"""

from __future__ import annotations

import fcntl
import gzip
import logging
import os
import shutil
from pathlib import Path

MAX_BYTES = 100 * 2**20
BACKUPS = 5


class BoundedFileHandler(logging.Handler):
    """Size-bounded, gzip-rotated, safe across processes (``logging.config`` can build it by name)."""

    def __init__(self, filename: str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS, encoding: str = "utf-8") -> None:
        super().__init__()
        self.path = Path(filename)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.backups, self.encoding = int(max_bytes), int(backups), encoding
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._fd: int | None = None
        self._inode: int | None = None

    def _open(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._inode = os.fstat(self._fd).st_ino

    def _rotate(self) -> None:
        """FILE → FILE.1.gz, FILE.1.gz → FILE.2.gz, ...; the oldest beyond ``backups`` is dropped."""
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}.gz")
            if older.exists():
                os.replace(older, self.path.with_name(f"{self.path.name}.{i + 1}.gz"))
        if self.backups > 0:
            packed = self.path.with_name(f"{self.path.name}.1.gz.tmp")
            with open(self.path, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
            os.replace(packed, self.path.with_name(f"{self.path.name}.1.gz"))
        os.unlink(self.path)
        self._open()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode(self.encoding, "backslashreplace")
            with open(self.lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    try:
                        current = os.stat(self.path).st_ino
                    except FileNotFoundError:
                        current = None
                    if self._fd is None or current != self._inode:
                        self._open()  # first write, or another process rotated the file
                    assert self._fd is not None
                    size = os.fstat(self._fd).st_size
                    if size and size + len(data) > self.max_bytes:
                        self._rotate()
                    os.write(self._fd, data[: self.max_bytes])
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except Exception:  # logging must never take the server down
            self.handleError(record)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()


def log_config(path: Path | None, access_log: bool = False, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> dict:
    """``logging.config.dictConfig`` for the KServe engine: one bounded file (``path``; stderr when None), no line
    per request unless ``access_log`` (then uvicorn's access line and KServe's timing line for each)."""
    fmt = {"format": "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"}
    handler: dict = ({"()": f"{__name__}.BoundedFileHandler", "filename": str(path), "max_bytes": max_bytes,
                      "backups": backups, "formatter": "plain"} if path is not None else
                     {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"})
    per_request = "INFO" if access_log else "WARNING"
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": fmt},
        "handlers": {"file": handler},
        "root": {"handlers": ["file"], "level": "WARNING"},
        "loggers": {
            "kserve": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "kserve.trace": {"handlers": ["file"], "level": per_request, "propagate": False},
            "uvicorn": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {"handlers": ["file"], "level": per_request, "propagate": False},
            "zoo_handlers": {"handlers": ["file"], "level": "INFO", "propagate": False},
            "handlers": {"handlers": ["file"], "level": "INFO", "propagate": False},
        },
    }
