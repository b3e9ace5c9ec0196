"""The arithmetic a training runs in: bfloat16 autocast on CUDA and on CPUs that compute bfloat16 natively, float32
elsewhere (where bfloat16 is emulated and slower). The precision is part of every result and training identity."""

from __future__ import annotations

import functools
import re
from pathlib import Path

# The CPU features that pick torch's CPU kernels for a training (vectorised float32, bfloat16 in hardware): two CPUs
# that share them compute a run alike, to the last bit, and two that do not may round it otherwise.
KERNEL_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16")


@functools.cache
def cpu_kernel_flags() -> tuple[str, ...]:
    """Which of ``KERNEL_FLAGS`` this CPU has (Linux's CPU flags; none where they cannot be read)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    present = set(re.findall(r"^flags\s*:(.*)$", cpuinfo, re.M)[0].split()) if "flags" in cpuinfo else set()
    return tuple(flag for flag in KERNEL_FLAGS if flag in present)


def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (Linux CPU flags avx512_bf16 or amx_bf16)."""
    return bool({"avx512_bf16", "amx_bf16"} & set(cpu_kernel_flags()))


def uses_bf16(device: str) -> bool:
    return device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())


def precision(device: str) -> str:
    """The arithmetic a training on ``device`` runs in, as results record it."""
    return "bf16-autocast" if uses_bf16(device) else "fp32"
