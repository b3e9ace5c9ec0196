"""Non-dominated sets of trials: PSNR maximised, costs minimised."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nas.core.objectives import OBJECTIVES

CHUNK = 1024  # rows compared at once, to bound memory at n × CHUNK × objectives


def maximized(objectives: Sequence[str]) -> list[bool]:
    """Per objective, whether it is maximised: the ``maximize`` argument of ``nondominated``."""
    return [OBJECTIVES[objective].maximized for objective in objectives]


def nondominated(values: np.ndarray, maximize: list[bool]) -> np.ndarray:
    """Boolean mask of the rows of ``values`` (trials × objectives) that no other row dominates.

    A row dominates another when it is at least as good in every objective and better in one. Rows with equal
    values do not dominate each other, so ties are all kept.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    losses = np.where(np.asarray(maximize), -values, values).astype(np.float64)
    mask = np.ones(len(losses), dtype=bool)
    for start in range(0, len(losses), CHUNK):
        block = losses[start : start + CHUNK]
        no_worse = (losses[None, :, :] <= block[:, None, :]).all(axis=2)
        better = (losses[None, :, :] < block[:, None, :]).any(axis=2)
        # np.any, not the method: numpy's stubs type the masks above as "scalar or array", and a scalar's
        # .any takes no axis 1
        mask[start : start + CHUNK] = ~np.any(no_worse & better, axis=1)
    return mask
