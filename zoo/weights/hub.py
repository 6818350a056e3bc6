"""Fetching weights files: streamed, hashed while they arrive, renamed into the cache only when whole and right."""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .files import WeightsError, weights_dir


def download(url: str, dest: Path, sha256: str, progress: bool = False, timeout: float = 60) -> Path:
    """Fetch ``url`` to ``dest``, hashing while it streams; only a complete file with the right hash is
    renamed into place (a failed or wrong download leaves nothing behind)."""
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(
            f"cannot create the weights cache {dest.parent} ({e.strerror}); set ZOO_HOME to a writable folder"
        ) from None
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            bar = _progress(total, dest.name) if progress else None
            received = 0
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
                received += len(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
            if total is not None and received != total:
                raise WeightsError(f"download of {url} stopped at {received} of {total} bytes; try again")
        if h.hexdigest() != sha256:
            raise WeightsError(
                f"{url} does not match the card (sha256 {h.hexdigest()[:12]}..., expected "
                f"{sha256[:12]}...); the mirror holds another file. Nothing was saved."
            )
        os.replace(tmp, dest)
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        if isinstance(e, urllib.error.HTTPError):
            reason = f"HTTP {e.code} {e.reason}"
        else:
            reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or f"{type(e).__name__}: {e}"
        raise WeightsError(f"cannot download {url} ({reason}); check the address or your connection") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def download_to_cache(url: str, file: str, sha256: str, name: str, progress: bool = False) -> Path:
    """``download`` into ``$ZOO_HOME/weights``; errors name the weights."""
    try:
        return download(url, weights_dir() / file, sha256, progress=progress)
    except WeightsError as e:
        raise WeightsError(f"{name}: {e}") from None


def _progress(total: int | None, label: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)
