"""The vocabulary a search space is validated with: each check reads one value and, where it is wrong, raises one
``SpaceError`` naming the file, the key path, the value and what is allowed."""

from __future__ import annotations

import difflib
import math
from typing import Any

import blocks
from nas.errors import InputError


class SpaceError(InputError):
    """A search-space file that cannot be used."""


def did_you_mean(value: Any, allowed: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(str(value), allowed, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


class Checker:
    """Reads values out of the parsed document; each failure raises a SpaceError naming file and key path."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, path: str, value: Any, allowed: str) -> SpaceError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return SpaceError(f"{self.source}: {path}: got {shown}; {allowed}")

    def mapping(self, value: Any, path: str, known: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(path, value, "expected a mapping of keys to values")
        for key in value:
            if not isinstance(key, str) or key not in known:
                where = f"{path}.{key}" if path else str(key)
                raise self.fail(where, key, f"unknown key; {did_you_mean(key, known)}known: {', '.join(known)}")
        return value

    def integer(self, value: Any, path: str, low: int, high: int) -> int:
        if isinstance(value, str):
            value = self._parse_number(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(path, value, f"expected an integer from {low} to {high}")
        return value

    def boolean(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(path, value, "expected true or false")
        return value

    def number(self, value: Any, path: str, low: float, high: float, *, low_open: bool = False) -> float:
        # YAML 1.1 reads 1e-4 (no dot) as a string; accept any string that is a plain number.
        if isinstance(value, str):
            value = self._parse_number(value)
        bounds = f"{'>' if low_open else '>='} {low:g} and <= {high:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise self.fail(path, value, f"expected a number {bounds}")
        if value < low or value > high or (low_open and value == low):
            raise self.fail(path, value, f"expected a number {bounds}")
        return float(value)

    @staticmethod
    def _parse_number(text: str) -> Any:
        try:
            return float(text) if len(text) < 40 else text
        except ValueError:
            return text

    def choice(self, value: Any, path: str, allowed: tuple[str, ...]) -> str:
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(path, value, f"{did_you_mean(value, allowed)}allowed: {', '.join(allowed)}")
        return value

    def block_list(self, value: Any, path: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(path, value, "expected a non-empty list of block names")
        names = tuple(self.choice(v, f"{path}[{i}]", tuple(blocks.names())) for i, v in enumerate(value))
        if len(set(names)) != len(names):
            raise self.fail(path, value, "list each block once")
        return names

    def section(self, document: dict, key: str, known: tuple[str, ...]) -> dict[str, Any]:
        return self.mapping(document.get(key, {}), key, known)
