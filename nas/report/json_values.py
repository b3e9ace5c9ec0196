"""Report numbers as JSON values: what ``json.dumps`` writes as valid JSON and ``json.loads`` reads back."""

from __future__ import annotations

import math

import numpy as np


def jsonable(value: object) -> object:
    """``value`` with tuples as lists, numpy scalars as Python numbers, keys as strings, and NaN or infinite
    numbers as None (JSON has no such numbers; an estimate that does not exist is null)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.integer, np.floating)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
