"""Report numbers as JSON values: what ``json.dumps`` writes as valid JSON and ``json.loads`` reads back."""

from __future__ import annotations

import math
from typing import Any, overload

import numpy as np


# A dict stays a dict (its keys strings): the typed view of what the function returns.
@overload
def jsonable(value: dict[Any, Any]) -> dict[str, Any]: ...


@overload
def jsonable(value: object) -> object: ...


def jsonable(value: object) -> object:
    """``value`` with tuples as lists, numpy scalars as Python ones, keys as strings, and NaN or infinite numbers
    as None (JSON has neither: an estimate that does not exist, or an interval end without a bound, is null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
