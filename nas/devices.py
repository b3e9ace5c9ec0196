"""Checking a ``--device`` before anything runs on it: one message instead of a torch traceback mid-run."""

from __future__ import annotations

import torch

from nas.errors import InputError


def default_device() -> str:
    """The device a command runs on when ``--device`` is not given: the GPU where there is one."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def available() -> list[str]:
    """The devices this torch build can run on here, as ``--device`` values."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found += ["cuda", *(f"cuda:{index}" for index in range(torch.cuda.device_count()))]
    if torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_device(name: str) -> str:
    """``name`` if torch can run on that device here.

    Raises:
        InputError: not a device name, or a device this torch build or machine does not have; the message lists
            the available ones.
    """
    listed = ", ".join(available())
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise InputError(f"device {name!r} is not a torch device name; available here: {listed}") from None
    if device.type == "cpu":
        return name
    if device.type == "cuda" and torch.cuda.is_available():
        if device.index is None or device.index < torch.cuda.device_count():
            return name
        raise InputError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s); use {listed}")
    if device.type == "mps" and torch.backends.mps.is_available():
        return name
    build = "CPU-only torch build" if torch.version.cuda is None else "machine with no usable GPU"
    why = f"this is a {build}" if device.type == "cuda" else f"{device.type!r} devices are not available here"
    raise InputError(f"device {name!r} cannot be used: {why}; available here: {listed}")


def chosen(name: str | None) -> str:
    """``name`` (a ``--device``), checked (``check_device``), or the default device when it is None."""
    return check_device(name or default_device())
