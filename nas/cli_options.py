"""The argument types and the shared options of the ``nas`` commands (``nas.cli``): each type an argparse
``type`` that refuses a value with one message naming what is allowed; each shared option an argparse parent that
the command table gives every command of a kind (-q/-v to all, ``--json``, ``--address``, ``--device``)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from ``low`` to ``high``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or not low <= value <= high:
            allowed = f"a positive integer up to {high}" if low == 1 else f"an integer from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be {allowed}, got {text}")
        return value

    return parse


def path_text(text: str) -> str:
    """An argparse type for a path: anything but empty (an empty path would name the working folder, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a path")
    return text


def port_number(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise argparse.ArgumentTypeError(f"must be a TCP port, 1 to 65535, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def depth_list(text: str) -> list[int]:
    try:
        return [int(item) for item in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be depths separated by commas, e.g. 0,7,15; got {text}") from None


def message_options() -> argparse.ArgumentParser:
    """-q / -v, which every command takes: how much the harness says on stderr."""
    parent = argparse.ArgumentParser(add_help=False)
    amount = parent.add_mutually_exclusive_group()
    amount.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=logging.WARNING, default=logging.INFO,
        help="of the harness's messages on stderr, only warnings (progress lines and results still print)",
    )  # fmt: skip
    amount.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=logging.DEBUG, help="also say debug messages"
    )
    return parent


def json_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--json", action="store_true", help="print the result as JSON (machine-readable)")
    return parent


def address_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--address", help="Ray cluster address to join (default: start Ray locally)")
    return parent


def device_option() -> argparse.ArgumentParser:
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--device", help="torch device, e.g. cpu, cuda, cuda:1 (default: cuda if present, else cpu)")
    return parent
