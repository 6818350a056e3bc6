"""Log writes across a forced rotation: per-record latency of several processes writing one bounded log file
(``handlers.logfiles.BoundedFileHandler``, what the KServe engine's workers log through) while one of them
rotates a large file.

    python benchmarks/log_rotation.py                      # 4 writers, a 96 MB file rotated mid-run
    python benchmarks/log_rotation.py --writers 8 --megabytes 100

The file is filled to just under its limit with hard-to-compress text, so the first records written rotate
it and gzip (seconds of work) runs while every writer goes on. Prints p50 / p99 / max write latency per
writer and writes ``benchmarks/results/log-rotation-cpu.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "log-rotation-cpu.json"


def _writer(path: str, max_bytes: int, records: int, index: int, queue: multiprocessing.Queue, start_at: float) -> None:
    from handlers.logfiles import BoundedFileHandler

    handler = BoundedFileHandler(path, max_bytes=max_bytes, backups=2)
    while time.time() < start_at:
        time.sleep(0.001)
    times = []
    for i in range(records):
        record = logging.LogRecord(
            "bench", logging.INFO, __file__, 1, f"writer {index} record {i} " + "x" * 80, None, None
        )
        t0 = time.perf_counter()
        handler.emit(record)
        times.append(time.perf_counter() - t0)
        time.sleep(0.0005)  # a busy server's pace, not a tight loop
    handler.close()
    queue.put((index, times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--records", type=int, default=4000)
    parser.add_argument("--megabytes", type=int, default=96)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    max_bytes = args.megabytes * 2**20
    import numpy as np

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kserve.log"
        path.write_bytes(os.urandom((max_bytes - 4096) // 2).hex().encode())
        context = multiprocessing.get_context("spawn")
        queue = context.Queue()
        start_at = time.time() + 3
        workers = [
            context.Process(target=_writer, args=(str(path), max_bytes, args.records, i, queue, start_at))
            for i in range(args.writers)
        ]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        results = dict(queue.get() for _ in workers)
        for w in workers:
            w.join()
        wall = time.perf_counter() - t0 - 3
        rotated = sorted(p.name for p in Path(tmp).iterdir())
    rows = []
    print(
        f"{args.writers} writers x {args.records} records, a {args.megabytes} MB file rotated at the start "
        f"({wall:.1f} s); files after: {rotated}"
    )
    print(f"{'writer':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for index, times in sorted(results.items()):
        ms = np.array(times) * 1000
        row = {
            "writer": index,
            "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p99_ms": round(float(np.percentile(ms, 99)), 3),
            "max_ms": round(float(ms.max()), 1),
        }
        rows.append(row)
        print(f"{index:>6} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f} {row['max_ms']:>8.1f}")
    from training.machine import machine_record

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "machine": machine_record(),
                "writers": args.writers,
                "records": args.records,
                "megabytes": args.megabytes,
                "wall_s": round(wall, 2),
                "rows": rows,
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
