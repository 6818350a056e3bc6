"""Where weights live (the package, the ``$ZOO_HOME`` cache) and their files: safetensors bytes with the card's
identity in the header, written atomically, checked by sha256."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ..errors import ZooError

#: Names of save-pretrained folders (:mod:`zoo.weights.pretrained`): ``local-dir:DIR`` and ``hf-hub:ORG/NAME``.
LOCAL_DIR, HF_HUB = "local-dir:", "hf-hub:"


def is_pretrained_source(source: str | Path) -> bool:
    """Whether ``source`` names a save-pretrained folder (``local-dir:DIR`` or ``hf-hub:ORG/NAME``)."""
    return str(source).startswith((LOCAL_DIR, HF_HUB))


PACKAGE_DIR = Path(__file__).parent
#: The packaged cards and shipped files.
REGISTRY_FILE = PACKAGE_DIR / "registry.json"
FILES_DIR = PACKAGE_DIR / "files"
#: Key of the safetensors header entry that holds the card's identity and the model's vocabularies.
META_KEY = "torch-model-zoo"


class WeightsError(ZooError):
    """Weights that cannot be found, fetched, verified or loaded; the message says what to do."""


def zoo_home() -> Path:
    """``$ZOO_HOME``, else ``$XDG_CACHE_HOME/torch-model-zoo``, else ``~/.cache/torch-model-zoo`` (as torch.hub)."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "torch-model-zoo"


def weights_dir() -> Path:
    """Where downloaded and locally built weights go (``$ZOO_HOME/weights``)."""
    return zoo_home() / "weights"


def registry_path(local: bool = False) -> Path:
    """The packaged registry, or (``local=True``) the one ``zoo weights build`` writes under ``$ZOO_HOME``."""
    return weights_dir() / "registry.json" if local else REGISTRY_FILE


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file renamed into place: readers see the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def serialize(state_dict: Mapping[str, torch.Tensor], meta: Mapping[str, Any], dtype: str = "float32") -> bytes:
    """A safetensors file's bytes: floating tensors cast to ``dtype``, ``meta`` as JSON in its header."""
    from safetensors.torch import save

    cast = getattr(torch, dtype)
    tensors = {
        k: (v.detach().cpu().to(cast) if v.is_floating_point() else v.detach().cpu()).contiguous()
        for k, v in state_dict.items()
    }
    return save(tensors, metadata={META_KEY: json.dumps(dict(meta), sort_keys=True)})


def save_file(
    state_dict: Mapping[str, torch.Tensor], path: Path, meta: Mapping[str, Any], dtype: str = "float32"
) -> str:
    """Write :func:`serialize`'s bytes atomically (left untouched when identical); return their sha256."""
    data = serialize(state_dict, meta, dtype)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(path)
    if not (path.is_file() and sha256_file(path) == sha):
        atomic_write(path, data)
    return sha


def load_file(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(float32 state dict, header metadata) of a safetensors file; a clear error if it is not one."""
    from safetensors import SafetensorError, safe_open

    try:
        tensors: dict[str, torch.Tensor] = {}
        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
            for key in f.keys():
                t = f.get_tensor(key)
                tensors[key] = t.float() if t.is_floating_point() else t
        meta = json.loads(header.get(META_KEY, "{}"))
    except (SafetensorError, OSError, ValueError) as e:
        raise WeightsError(
            f"{path} is not a readable safetensors file ({str(e)[:200]}); delete it and fetch or build it again"
        ) from None
    return tensors, meta


_VERIFIED: dict[tuple[str, int, int], str] = {}


def check_hash(path: Path, expected: str, name: str) -> None:
    """The file's sha256 must be the card's (remembered per path, size and mtime within a process)."""
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) == expected:
        return
    actual = sha256_file(path)
    if actual != expected:
        raise WeightsError(
            f"{path} does not match {name}'s card (sha256 {actual[:12]}..., expected {expected[:12]}...): the file is "
            f"corrupt, truncated or from another build. Delete it and fetch it again, or rebuild with "
            f"`zoo weights build {name}`"
        )
    _VERIFIED[key] = expected
