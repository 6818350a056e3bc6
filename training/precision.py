"""Which number format a run computes in: ``fp32``, ``bf16`` (autocast) or ``auto``.

``auto`` picks bf16 where the hardware runs it natively (a CUDA GPU with bf16, or a CPU with AMX or
AVX512-BF16, where oneDNN runs bf16 convolutions and matrix products on the matrix units) and fp32
elsewhere. Weights, optimiser state, checkpoints and exports stay fp32 in every case: autocast only
changes the format of the arithmetic inside forward (and so backward) passes.
"""

from __future__ import annotations

import contextlib
import functools
import warnings
from pathlib import Path

import torch

#: CPU flags (as in /proc/cpuinfo) under which oneDNN runs bf16 natively.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The native-bf16 flags this CPU reports (empty off Linux or on CPUs without them)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.split(":", 1)[1].split())
            break
    return tuple(f for f in BF16_CPU_FLAGS if f in flags)


#: The first CUDA compute capability with bf16 tensor cores (Ampere).
CUDA_BF16_CAPABILITY = (8, 0)


def cuda_bf16_native(capability: tuple[int, int]) -> bool:
    """Whether a GPU of this compute capability computes bf16 in hardware (Ampere, sm_80, and later)."""
    return tuple(capability) >= CUDA_BF16_CAPABILITY


def native_bf16(device: torch.device) -> tuple[bool, str]:
    """Whether ``device`` computes bf16 natively, and the evidence (for the run's log)."""
    if device.type == "cuda":
        # the run's own GPU, by its compute capability: torch.cuda.is_bf16_supported() asks the current device and
        # says yes on GPUs that only emulate bf16 (before Ampere)
        major, minor = torch.cuda.get_device_capability(device)
        ok = cuda_bf16_native((major, minor))
        how = "computes bf16 natively" if ok else "only emulates bf16 (native from sm_80, Ampere)"
        return ok, f"{torch.cuda.get_device_name(device)} (sm_{major}{minor}) {how}"
    if device.type == "cpu":
        flags = cpu_bf16_flags()
        return bool(flags), ("CPU has " + " + ".join(flags)) if flags else "CPU has neither AMX nor AVX512-BF16"
    return False, f"bf16 autocast is not used on {device.type}"


def resolve_precision(requested: str, device: torch.device) -> tuple[str, str]:
    """(``fp32`` | ``bf16``, why) for a profile's ``precision`` on ``device``.

    An explicit ``bf16`` where the hardware lacks it still runs (emulated, usually slower than fp32) with a
    warning that says so; ``auto`` falls back to fp32 there.
    """
    if requested == "fp32":
        return "fp32", "asked for"
    ok, why = native_bf16(device)
    if requested == "auto":
        return ("bf16" if ok else "fp32"), f"auto: {why}"
    if requested != "bf16":
        raise ValueError(f"precision must be one of auto, fp32, bf16 (got {requested!r})")
    if device.type not in ("cpu", "cuda"):
        warnings.warn(f"precision=bf16: {why}; training in fp32", stacklevel=2)
        return "fp32", why
    if not ok:
        warnings.warn(
            f"precision=bf16 asked for but {why}: bf16 is emulated here and usually slower than fp32 "
            "(use precision=auto or fp32)",
            stacklevel=2,
        )
    return "bf16", f"asked for ({why})"


def autocast(precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on the device for a resolved ``bf16``; nothing for ``fp32``."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
