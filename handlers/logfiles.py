"""A log file that stays bounded when several processes write it (the KServe engine's REST workers).

:class:`BoundedFileHandler` keeps ``FILE`` under ``max_bytes`` and at most ``backups`` gzipped older files
(``FILE.1.gz`` newest), as TorchServe's log4j policy does (100 MB x 5). Every write takes an exclusive
``flock`` on ``FILE.lock``, reopens ``FILE`` when another process has rotated it, and rotates when the
record would pass the limit. Rotating under the lock is a rename; the file is compressed by a background
thread after the lock is released (so no writer waits for gzip, not even the one that rotated), then put in
place with renames under the lock again; ``close()`` waits for it. The logs of any
number of workers stay within (backups + 1) x max_bytes, plus the files being compressed at that moment.
"""

from __future__ import annotations

import contextlib
import fcntl
import gzip
import logging
import os
import queue
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

MAX_BYTES = 100 * 2**20
BACKUPS = 5


class BoundedFileHandler(logging.Handler):
    """Size-bounded, gzip-rotated, safe across processes (``logging.config`` can build it by name)."""

    def __init__(
        self, filename: str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS, encoding: str = "utf-8"
    ) -> None:
        super().__init__()
        self.path = Path(filename)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.backups, self.encoding = int(max_bytes), int(backups), encoding
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._fd: int | None = None
        self._inode: int | None = None
        self._pending: queue.Queue[tuple[Path, logging.LogRecord] | None] = queue.Queue()
        self._worker: threading.Thread | None = None

    def _open(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._inode = os.fstat(self._fd).st_ino

    def _sibling(self, suffix: str) -> Path:
        return self.path.with_name(f"{self.path.name}{suffix}")

    def _rotate(self) -> Path:
        """Under the lock: FILE → a pending name (a rename: instant), and a new FILE. Returns the pending file,
        which :meth:`_compress` packs after the lock is released."""
        pending = self._sibling(f".rotated-{time.time_ns()}-{os.getpid()}")
        os.replace(self.path, pending)
        self._open()
        return pending

    def _compress(self, pending: Path) -> None:
        """Outside the lock: gzip ``pending``; then, under the lock again (renames only), shift FILE.i.gz to
        FILE.(i+1).gz, drop the oldest beyond ``backups`` and put the new one in as FILE.1.gz."""
        packed = pending.with_name(pending.name + ".gz.tmp")
        if self.backups > 0:
            with open(pending, "rb") as src, gzip.open(packed, "wb", compresslevel=6) as dst:
                shutil.copyfileobj(src, dst)
        with self._locked():
            if self.backups > 0:
                self._sibling(f".{self.backups}.gz").unlink(missing_ok=True)
                for i in range(self.backups - 1, 0, -1):
                    older = self._sibling(f".{i}.gz")
                    if older.exists():
                        os.replace(older, self._sibling(f".{i + 1}.gz"))
                os.replace(packed, self._sibling(".1.gz"))
            pending.unlink()

    def _pack_in_order(self) -> None:
        """One thread per handler packs its rotated files in the order they were rotated (the backups stay in order)."""
        while True:
            item = self._pending.get()
            if item is None:
                return
            try:
                self._compress(item[0])
            except Exception:  # logging must never take the server down
                self.handleError(item[1])

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock_path, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            data = (self.format(record) + "\n").encode(self.encoding, "backslashreplace")
            pending = None
            with self._locked():
                try:
                    current = os.stat(self.path).st_ino
                except FileNotFoundError:
                    current = None
                if self._fd is None or current != self._inode:
                    self._open()  # first write, or another process rotated the file
                assert self._fd is not None
                size = os.fstat(self._fd).st_size
                if size and size + len(data) > self.max_bytes:
                    pending = self._rotate()
                os.write(self._fd, data[: self.max_bytes])
            if pending is not None:  # the slow part, in the background: no writer waits for gzip, this one included
                if self._worker is None or not self._worker.is_alive():
                    self._worker = threading.Thread(target=self._pack_in_order, daemon=True, name="log-compress")
                    self._worker.start()
                self._pending.put((pending, record))
        except Exception:  # logging must never take the server down
            self.handleError(record)

    def close(self) -> None:
        if self._worker is not None and self._worker.is_alive():  # a rotated file is packed before the process lets go
            self._pending.put(None)
            self._worker.join(timeout=120)
            self._worker = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        super().close()


def log_config(path: Path | None, access_log: bool = False, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> dict:
    """``logging.config.dictConfig`` for the KServe engine: one bounded file (``path``; stderr when None), no line
    per request unless ``access_log`` (then uvicorn's access line and KServe's timing line for each)."""
    fmt = {"format": "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s"}
    handler: dict = (
        {
            "()": f"{__name__}.BoundedFileHandler",
            "filename": str(path),
            "max_bytes": max_bytes,
            "backups": backups,
            "formatter": "plain",
        }
        if path is not None
        else {"class": "logging.StreamHandler", "stream": "ext://sys.stderr", "formatter": "plain"}
    )
    per_request = "INFO" if access_log else "WARNING"
    return {
        "version": 1,
        "disable_existing_loggers": False,
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
