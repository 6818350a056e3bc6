"""A small HTTP client for the inference API that finds the run folder's token by itself."""

from __future__ import annotations

import http.client
import json
import time
from pathlib import Path
from typing import Any


def read_token(run_dir: Path, kind: str = "inference") -> str:
    """The bearer token TorchServe wrote to ``run_dir/key_file.json``."""
    path = Path(run_dir) / "key_file.json"
    if not path.is_file():
        raise FileNotFoundError(f"no key file at {path}: is a server running from this run folder?")
    for _ in range(20):  # TorchServe may still be writing it: an empty or partial file reads as bad JSON
        try:
            return str(json.loads(path.read_text())[kind]["key"])
        except (ValueError, KeyError, TypeError):
            time.sleep(0.1)
    raise ValueError(f"{path} is not a TorchServe key file (no {kind!r} key); "
                     "restart the server with `zoo-serve stop` and `zoo-serve start`")


class Client:
    """Keep-alive HTTP/1.1 client: ``predict`` returns (status, parsed JSON or text, seconds)."""

    def __init__(self, host: str, port: int, token: str | None) -> None:
        self.host, self.port, self.token = host, port, token
        self.conn: http.client.HTTPConnection | None = None

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> "Client":
        run_dir = Path(run_dir)
        state_file = run_dir / "server.json"
        if state_file.is_file():
            state = json.loads(state_file.read_text())
            host, port = state["host"], int(state["port"])
        else:
            props = dict(line.split("=", 1) for line in (run_dir / "config.properties").read_text().splitlines() if "=" in line)
            address = props["inference_address"].rsplit(":", 1)
            host, port = address[0].split("//")[-1], int(address[1])
        return cls(host, port, read_token(run_dir))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                timeout: float = 60) -> tuple[int, Any, float]:
        headers = dict(headers or {})
        if self.token:
            headers.setdefault("Authorization", f"Bearer {self.token}")
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            try:
                t0 = time.perf_counter()
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                elapsed = time.perf_counter() - t0
                break
            except (http.client.HTTPException, ConnectionError, OSError):
                self.close()
                if attempt:
                    raise
        text = data.decode("utf-8", errors="replace")
        try:
            parsed: Any = json.loads(text)
        except json.JSONDecodeError:
            parsed = text
        return response.status, parsed, elapsed

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a dropped client must not leak its socket
        self.close()

    def ping(self) -> bool:
        try:
            status, body, _ = self.request("GET", "/ping", timeout=5)
        except OSError:
            return False
        return status == 200 and isinstance(body, dict) and body.get("status") == "Healthy"

    def predict(self, name: str, payload: bytes | dict | list | str, content_type: str | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, Any, float]:
        if isinstance(payload, (dict, list)):
            body, content_type = json.dumps(payload).encode(), content_type or "application/json"
        elif isinstance(payload, str):
            body, content_type = payload.encode(), content_type or "text/plain"
        else:
            body, content_type = payload, content_type or "application/octet-stream"
        return self.request("POST", f"/predictions/{name}", body,
                            {"Content-Type": content_type, **(headers or {})})

    def describe(self, name: str) -> tuple[int, Any, float]:
        return self.predict(name, {}, headers={"describe": "true"})
