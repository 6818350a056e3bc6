"""``zoo-serve archive``: an export folder (or a checkpoint, exported on the way) → ``model_store/NAME.mar``.

The archive holds the chosen artifact (ONNX or TorchScript), ``export.json``, ``serving.json``
(name, part, runtime), ``labels.json``, the TorchServe entry ``zoo_entry.py`` and the handler
package as ``zoo_handlers/``: it runs on any TorchServe with onnxruntime or torch, no zoo install.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import handlers
from zoo.errors import ZooError

from .config import ServingError

#: runtime → the export format it runs (``onnx-int8`` runs the part's int8 ONNX model, made on demand).
RUNTIME_FORMAT = {"onnx": "onnx", "torchscript": "torchscript", "onnx-int8": "onnx"}
RUNTIMES = tuple(RUNTIME_FORMAT)
HANDLER_FILES = (
    "__init__.py",
    "base.py",
    "tasks.py",
    "imaging.py",
    "validate.py",
    "engine_torchserve.py",
    "engine_kserve.py",
    "kserve_server.py",
    "v2_binary.py",
    "logfiles.py",
)


#: TorchServe's rule for model names (torch-model-archiver refuses others with a traceback).
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-.]*")


class ArchiveError(ZooError):
    """An export folder or checkpoint that cannot be archived; the message says why."""


def default_part(task: str, parts: list[str]) -> str:
    """What a user serves by default: the generator of a GAN, the decoder of a VAE, else the whole model."""
    if task == "gan" and "generator" in parts:
        return "generator"
    if task == "vae" and "decoder" in parts:
        return "decoder"
    return "model" if "model" in parts else parts[0]


def archive_name(model: str, part: str) -> str:
    return model if part == "model" else f"{model}-{part}"


def find_tool(name: str) -> str:
    """A console script of this environment (next to the running Python), else one on PATH."""
    exe = Path(sys.executable).parent / name
    found = str(exe) if exe.exists() else shutil.which(name)
    if not found:
        raise FileNotFoundError(f"{name} not found: pip install {name}")
    return found


def ensure_export(
    source: str | Path,
    runtime: str,
    exports_dir: Path,
    log: Callable[[str], None],
    random_weights: bool = False,
    views: int = 0,
) -> Path:
    """``source`` if it is an export folder; else export it (with parity checks; with ``views``, the classifier
    averaging its test-time views) and return the folder."""
    path = Path(source)
    if (path / "export.json").is_file():
        if views:
            raise ArchiveError(f"{path} is an export folder: its views were fixed when exported (zoo-export --views)")
        return path
    from export.core import export

    out = exports_dir / ((path.stem if path.exists() else path.name) + (f"-views{views}" if views else ""))
    log(f"exporting {source} → {out} ({runtime}, with parity checks) ...")
    try:
        record = export(
            source,
            out,
            formats=[RUNTIME_FORMAT[runtime]],
            log=lambda m: None,
            random_weights=random_weights,
            views=views,
        )
    except ValueError as e:
        raise ArchiveError(str(e)) from e
    if not record["passed"]:
        raise ArchiveError(f"parity check failed for {source}; see {out}/export.json (not archiving a wrong model)")
    return out


def int8_artifact(export_dir: Path, part: str, data_dir: Path | None, log: Callable[[str], None]) -> str:
    """The file name of ``part``'s int8 ONNX model in ``export_dir``, quantising it first when needed."""
    from export.quantize import quantize_export

    quantized = json.loads((export_dir / "export.json").read_text())["parts"][part].get("quantized") or {}
    if "file" not in quantized or not (export_dir / quantized["file"]).is_file():
        log(f"quantising {part} of {export_dir} to int8 ...")
        record = quantize_export(export_dir, data_dir=data_dir, parts=[part], log=log)
        quantized = record["parts"][part]["quantized"]
        if "file" not in quantized:
            raise ArchiveError(quantized.get("refused", f"{part} could not be quantised"))
    return str(quantized["file"])


def build_archive(
    source: str | Path,
    runtime: str = "onnx",
    part: str | None = None,
    name: str | None = None,
    store: Path = Path("model_store"),
    exports_dir: Path = Path("exports"),
    log: Callable[[str], None] = print,
    random_weights: bool = False,
    data_dir: Path | None = None,
    views: int = 0,
) -> dict[str, Any]:
    """Write ``store/NAME.mar`` from an export folder, a checkpoint, trained weights (``mnist-cnn.mnist``) or a
    model name (its default trained weights; fresh ones with ``random_weights``); return what was archived.

    ``onnx-int8`` archives the part's int8 model, quantised (and accuracy-checked) first if the export has
    none; ``data_dir`` is where its calibration data is found; ``views`` serves an image classifier averaging its
    test-time views (1: two, 2: six; see ``zoo-export --views``)."""
    if runtime not in RUNTIME_FORMAT:
        raise ArchiveError(f"unknown runtime {runtime!r}: {', '.join(RUNTIMES)}")
    if name is not None and not MODEL_NAME.fullmatch(name):
        raise ArchiveError(
            f"archive name {name!r}: use letters, digits, '_', '-' and '.', starting with a letter or "
            f"digit (it becomes the endpoint /predictions/NAME and the file NAME.mar)"
        )
    export_dir = ensure_export(source, runtime, exports_dir, log, random_weights, views)
    record = json.loads((export_dir / "export.json").read_text())
    parts = list(record["parts"])
    part = part or default_part(record["model"]["task"], parts)
    if part not in record["parts"]:
        raise ArchiveError(f"{record['model']['name']} has no part {part!r}; parts: {parts}")
    artifacts = record["parts"][part]["artifacts"]
    fmt = RUNTIME_FORMAT[runtime]
    if fmt not in artifacts:
        raise ArchiveError(f"{export_dir} has no {fmt} artifact for {part}; re-export with --format {fmt} or all")
    if not record["parts"][part]["parity"]["passed"]:
        raise ArchiveError(f"{export_dir}: the {part} export did not pass its parity check; not archiving it")
    artifact = export_dir / artifacts[fmt]["file"]
    if runtime == "onnx-int8":
        artifact = export_dir / int8_artifact(export_dir, part, data_dir, log)
    name = name or archive_name(record["model"]["name"], part)
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        extra = stage / "extra"
        (extra / "zoo_handlers").mkdir(parents=True)
        package = Path(handlers.__file__).parent
        for f in HANDLER_FILES:
            shutil.copy2(package / f, extra / "zoo_handlers" / f)
        shutil.copy2(export_dir / "export.json", extra / "export.json")
        serving = {
            "name": name,
            "part": part,
            "runtime": runtime,
            "artifact": artifact.name,
            "model": record["model"]["name"],
            "task": record["model"]["task"],
        }
        (extra / "serving.json").write_text(json.dumps(serving, indent=2))
        (extra / "labels.json").write_text(json.dumps(record.get("labels")))
        entry = stage / "zoo_entry.py"
        shutil.copy2(package / "torchserve_entry.py", entry)
        cmd = [
            find_tool("torch-model-archiver"),
            "--model-name",
            name,
            "--version",
            "1.0",
            "--serialized-file",
            str(artifact),
            "--handler",
            f"{entry.with_suffix('')}:handle",
            "--extra-files",
            str(extra),
            "--export-path",
            str(store),
            "--force",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0:
            raise ArchiveError(f"torch-model-archiver failed: {result.stderr.strip()[-1000:]}")
    mar = store / f"{name}.mar"
    log(f"archived {record['model']['name']} ({part}, {runtime}) → {mar}")
    return {
        "name": name,
        "mar": str(mar),
        "part": part,
        "runtime": runtime,
        "export_dir": str(export_dir),
        "task": record["model"]["task"],
    }


def unpack(mar: Path, into: Path) -> Path:
    """A model archive unpacked as a model directory (what TorchServe unpacks, too): for the KServe engine and
    the container image of ``zoo-serve deploy``."""
    try:
        with zipfile.ZipFile(mar) as archive:
            names = archive.namelist()
            if "serving.json" not in names or "export.json" not in names:
                raise ServingError(
                    f"{mar} is not a zoo archive (no serving.json/export.json); rebuild it with `zoo-serve archive`"
                )
            root = into.resolve()
            for member in names:  # no absolute paths or .. in an archive we unpack
                if not (into / member).resolve().is_relative_to(root):
                    raise ServingError(f"{mar}: unsafe path in archive: {member[:80]}")
            archive.extractall(into)
    except zipfile.BadZipFile:
        raise ServingError(
            f"{mar} is not a readable archive (corrupt or truncated); rebuild it with `zoo-serve archive`"
        ) from None
    return into
