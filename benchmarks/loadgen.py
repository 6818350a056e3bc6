"""HTTP load for the serving benchmarks: ``wrk`` (Debian package) where installed, else an asyncio client that
keeps ``clients`` connections busy; both POST one body for ``seconds`` and report requests/s, p50 and p99."""

from __future__ import annotations

import asyncio
import io
import re
import subprocess
import time
from pathlib import Path

import numpy as np


def png(shape: tuple[int, ...], seed: int = 0) -> bytes:
    """A random image of ``shape`` as PNG bytes (the request body)."""
    from PIL import Image

    array = (np.random.default_rng(seed).random(shape) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def wrk(
    url: str,
    body: bytes,
    token: str,
    clients: int,
    seconds: int,
    tmp: Path,
    content_type: str = "application/octet-stream",
) -> dict:
    """``wrk`` POSTing ``body`` to ``url`` from ``clients`` connections for ``seconds``."""
    body_file = tmp / "body.bin"
    body_file.write_bytes(body)
    script = tmp / "post.lua"
    script.write_text(
        f'local f = io.open("{body_file}", "rb"); local body = f:read("*all"); f:close()\n'
        'wrk.method = "POST"; wrk.body = body\n'
        f'wrk.headers["Content-Type"] = "{content_type}"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n'
        "done = function(summary, latency, requests)\n"
        '  io.write(string.format("ZOO %d %d %d %d %d %d\\n", summary.requests, summary.duration,\n'
        "    latency:percentile(50), latency:percentile(99), summary.errors.status, summary.errors.timeout + summary.errors.connect + summary.errors.read + summary.errors.write))\n"
        "end\n"
    )
    threads = min(clients, 2)
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{clients}", f"-d{seconds}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    n, duration_us, p50, p99, bad_status, socket_errors = map(int, re.search(r"ZOO (.*)", out).group(1).split())
    return {
        "requests": n,
        "rps": n / (duration_us / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "non_2xx": bad_status,
        "socket_errors": socket_errors,
        "tool": "wrk",
    }


async def asyncio_load(
    host: str,
    port: int,
    path: str,
    body: bytes,
    token: str,
    clients: int,
    seconds: float,
    content_type: str = "application/octet-stream",
) -> dict:
    """The same load as :func:`wrk` from asyncio connections (where wrk is not installed)."""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            errors += b" 200 " not in status
        writer.close()

    t0 = time.perf_counter()
    await asyncio.gather(*[worker() for _ in range(clients)])
    elapsed = time.perf_counter() - t0
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "rps": len(ms) / elapsed,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "non_2xx": errors,
        "socket_errors": 0,
        "tool": "asyncio",
    }
