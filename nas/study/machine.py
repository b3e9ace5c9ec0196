"""The machine that drives a run, as ``environment.json`` records it: host, Python, CPU and the features that pick
its kernels, GPUs, package versions."""

from __future__ import annotations

import os
import platform
import socket
from importlib import metadata
from pathlib import Path
from typing import Any

from nas.core import precision

VERSIONED_PACKAGES = ("torch", "optuna", "ray", "fvcore", "numpy", "pandas")


def environment(gpus: list[str]) -> dict[str, Any]:
    """Versions and hardware of this process's machine, with the names of its ``gpus``."""
    versions: dict[str, str | None] = {}  # None: not installed
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_kernel_flags": list(precision.cpu_kernel_flags()),  # what picks torch's CPU kernels (bit-identity)
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
