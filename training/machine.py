"""Where code runs: the device (``auto`` chosen), seeding, the machine's name (CPU model and cores, or GPU
model) and the project's commit.

Runs record these at training time (``config.json``) and cards and benchmarks name machines with them, so that
a card built on one machine from a run made on another says where each happened.
"""

from __future__ import annotations

import os
import platform
import random
import subprocess
from pathlib import Path

import numpy as np
import torch

#: How a run made outside a git checkout (an installed package, a copied folder) records its commit.
NOT_A_CHECKOUT = "none: not run from a git checkout"


def project_commit() -> str:
    """The project's git commit (with ``-dirty`` for uncommitted changes), or :data:`NOT_A_CHECKOUT` when this
    code is not the working tree of a git checkout (an installed package inside some other repository is not)."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()

    try:
        top = git("rev-parse", "--show-toplevel")
        if not top or Path(top).resolve() != root:
            return f"{NOT_A_CHECKOUT} ({root})"
        sha = git("rev-parse", "--short=12", "HEAD")
        # the registry and files a build writes do not make the code that trained them dirty
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!zoo/weights")
    except (OSError, subprocess.SubprocessError):
        return f"{NOT_A_CHECKOUT} ({root}; git could not be run)"
    return (sha + ("-dirty" if dirty else "")) if sha else f"{NOT_A_CHECKOUT} ({root})"


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else what :mod:`platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_description() -> str:
    """The CPU and its core count, as cards and benchmark results name a machine."""
    return f"{cpu_name()}, {os.cpu_count()} cores"


#: The instruction-set flags that decide a CPU's speed here: fp32 SIMD, bf16 and int8 dot products, AMX tiles.
SPEED_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "amx_int8")


def cpu_flags() -> list[str]:
    """Which of :data:`SPEED_FLAGS` this CPU has (``/proc/cpuinfo``; empty where it cannot be read)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [f for f in SPEED_FLAGS if f in have]
    except OSError:
        pass
    return []


def machine_record(device: str = "cpu") -> dict[str, object]:
    """What a benchmark names as its machine: the CPU model, cores, speed flags and torch threads, and the GPU
    where ``device`` is one; ``line`` says it in one line."""
    gpu = torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else None
    flags = cpu_flags()
    line = f"{cpu_name()} ({os.cpu_count()} cores; {' '.join(flags) or 'no flags read'}), {torch.get_num_threads()} torch threads"
    return {
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "cpu_flags": flags,
        "torch_threads": torch.get_num_threads(),
        "gpu": gpu,
        "line": f"{gpu} (host: {line})" if gpu else line,
    }


def device_name(device: str, threads: int | None = None) -> str:
    """The GPU's model for a CUDA device, else the CPU with its cores and torch threads."""
    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return f"{cpu_description()}, {threads or torch.get_num_threads()} torch threads"


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs on this machine (a zombie counts as gone; another user's process as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/status").read_text().find("State:\tZ") < 0
    except OSError:
        return True


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` → cuda, else mps, else cpu; ``cuda`` without a GPU is an error."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"--device {name} asked for, but no CUDA GPU is available; use --device cpu or auto")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
