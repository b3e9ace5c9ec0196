"""The arithmetic a training runs in: bfloat16 autocast on CUDA and on CPUs that compute bfloat16 natively, float32
elsewhere (where bfloat16 is emulated and slower). The precision is part of every result and training identity."""

from __future__ import annotations

import functools
import re
from pathlib import Path


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (Linux CPU flags avx512_bf16 or amx_bf16)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def uses_bf16(device: str) -> bool:
    return device.startswith("cuda") or (device == "cpu" and cpu_has_native_bf16())


def precision(device: str) -> str:
    """The arithmetic a training on ``device`` runs in, as results record it."""
    return "bf16-autocast" if uses_bf16(device) else "fp32"
