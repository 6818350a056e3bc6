"""The bounded log file: rotation never makes another writer wait for a compression."""

from __future__ import annotations

import gzip
import logging
import os

from handlers.logfiles import BoundedFileHandler


def _record(message: str) -> logging.LogRecord:
    return logging.LogRecord("zoo", logging.INFO, __file__, 1, message, None, None)


def test_no_writer_waits_for_the_compression_of_a_rotated_file(tmp_path):
    """Writer A's record rotates a 48 MB file of random text (gzip needs seconds for it): A's own write returns
    while the compression runs, and writer B (another handler on the same file, as another process has)
    writes during it too; close() waits for the packed file."""
    path = tmp_path / "kserve.log"
    size = 48 * 2**20
    path.write_bytes(os.urandom(size // 2).hex().encode())  # hex: compressible only by half, so gzip is slow
    a = BoundedFileHandler(str(path), max_bytes=size, backups=2)
    b = BoundedFileHandler(str(path), max_bytes=size, backups=2)
    a.emit(_record("x" * 100))

    def compressing() -> bool:
        return bool(list(tmp_path.glob("*.rotated-*")))

    assert compressing(), "A's write waited for the compression to finish"
    b.emit(_record("written during the compression"))
    assert compressing(), "B's write waited for the compression to finish"
    a.close()
    assert not compressing()
    assert path.read_text().splitlines() == ["x" * 100, "written during the compression"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "kserve.log",
        "kserve.log.1.gz",
    ]
    assert len(gzip.decompress((tmp_path / "kserve.log.1.gz").read_bytes())) == size
    b.close()


def test_backups_shift_and_the_oldest_is_dropped(tmp_path):
    path = tmp_path / "app.log"
    handler = BoundedFileHandler(str(path), max_bytes=1000, backups=2)
    for i in range(40):
        handler.emit(_record(f"line {i:03d} " + "y" * 90))
    handler.close()
    names = sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock"))
    assert names == ["app.log", "app.log.1.gz", "app.log.2.gz"]
    newest = gzip.decompress((tmp_path / "app.log.1.gz").read_bytes()).decode().splitlines()
    older = gzip.decompress((tmp_path / "app.log.2.gz").read_bytes()).decode().splitlines()
    current = path.read_text().splitlines()
    assert older[-1] < newest[0] and newest[-1] < current[0] and current[-1].startswith("line 039")
