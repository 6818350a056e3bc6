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
    raise ValueError(
        f"{path} is not a TorchServe key file (no {kind!r} key); "
        "restart the server with `zoo-serve stop` and `zoo-serve start`"
    )


class Client:
    """Keep-alive HTTP/1.1 client: ``predict`` returns (status, parsed JSON or text, seconds).

    One interface to both engines: for ``engine="kserve"`` a request goes to KServe v1
    (``/v1/models/NAME:predict``, a JSON request wrapped as ``{"instances": [request]}``) and the
    answer is unwrapped, so callers see what TorchServe's ``/predictions/NAME`` answers."""

    def __init__(self, host: str, port: int, token: str | None, engine: str = "torchserve") -> None:
        self.host, self.port, self.token, self.engine = host, port, token, engine
        self.conn: http.client.HTTPConnection | None = None

    @classmethod
    def from_run_dir(cls, run_dir: Path) -> Client:
        run_dir = Path(run_dir)
        state_file = run_dir / "server.json"
        engine = "torchserve"
        if state_file.is_file():
            state = json.loads(state_file.read_text())
            host, port, engine = state["host"], int(state["port"]), state.get("engine", "torchserve")
        else:
            props = dict(
                line.split("=", 1) for line in (run_dir / "config.properties").read_text().splitlines() if "=" in line
            )
            address = props["inference_address"].rsplit(":", 1)
            host, port = address[0].split("//")[-1], int(address[1])
        return cls(host, port, read_token(run_dir), engine)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 60,
    ) -> tuple[int, Any, float]:
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

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a dropped client must not leak its socket
        self.close()

    def ping(self) -> bool:
        try:
            if self.engine == "kserve":
                status, body, _ = self.request("GET", "/v2/health/live", timeout=5)
                return status == 200 and isinstance(body, dict) and body.get("live") is True
            status, body, _ = self.request("GET", "/ping", timeout=5)
        except OSError:
            return False
        return status == 200 and isinstance(body, dict) and body.get("status") == "Healthy"

    def predict(
        self,
        name: str,
        payload: bytes | dict | list | str,
        content_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, float]:
        if isinstance(payload, (dict, list)):
            body, content_type = json.dumps(payload).encode(), content_type or "application/json"
        elif isinstance(payload, str):
            body, content_type = payload.encode(), content_type or "text/plain"
        else:
            body, content_type = payload, content_type or "application/octet-stream"
        if self.engine != "kserve":
            return self.request("POST", f"/predictions/{name}", body, {"Content-Type": content_type, **(headers or {})})
        if "json" in content_type:
            body = b'{"instances":[' + body + b"]}"
        elif content_type == "application/octet-stream":  # KServe parses octet-stream as JSON: name the bytes
            content_type = "image/jpeg" if body[:3] == b"\xff\xd8\xff" else "image/png"
        status, answer, seconds = self.request(
            "POST", f"/v1/models/{name}:predict", body, {"Content-Type": content_type, **(headers or {})}
        )
        if (
            status == 200
            and isinstance(answer, dict)
            and isinstance(answer.get("predictions"), list)
            and len(answer["predictions"]) == 1
        ):
            answer = answer["predictions"][0]
        return status, answer, seconds

    def describe(self, name: str) -> tuple[int, Any, float]:
        """What the server says of model ``name`` (TorchServe: the handler's description; KServe: v2 metadata)."""
        if self.engine == "kserve":
            return self.request("GET", f"/v2/models/{name}")
        return self.predict(name, {}, headers={"describe": "true"})
