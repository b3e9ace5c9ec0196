"""The hypervolume reference point of a space: fixed by the space, not by the trials.

PSNR floor: plain bicubic upsampling of the space's validation images (MATLAB-bicubic LR, then MATLAB bicubic
×s back up; uint8, Y, border = scale: the protocol of every other PSNR). Any SR network must beat it. When the
validation folder can no longer be read, the worst PSNR seen is used instead and labelled as moving with the data.

Cost ceiling: the space's constraint on that cost (``max_macs``, ``max_params``, ``max_latency_ms``); without one,
the counted cost of the space's costliest genotype (``nas.core.bounds.costliest``: the costliest allowed block
at every depth). Latency is measured, not counted: without ``max_latency_ms`` the ceiling is 5 % above the
largest latency seen, labelled as moving with the data.

Neither end moves when a trial diverges, and two studies of one space share the point, so their hypervolumes
(normalised to [0, 1], see ``analysis.front_area``) compare.
"""

from __future__ import annotations

import pandas as pd

from nas.core import bounds, counting
from nas.core.objectives import COUNTED_COSTS, OBJECTIVES
from nas.core.spaces import SearchSpace
from nas.errors import InputError
from nas.report import analysis
from nas.sr import evaluate


def psnr_floor(space: SearchSpace, source: str | None = None) -> float:
    """Mean PSNR of bicubic ×scale upsampling over the validation images of ``space`` (or of ``source``, one of its
    ``data.also_val``).

    Raises:
        InputError: the validation folder is gone or unreadable.
    """
    return evaluate.bicubic_psnr(source or space.data.val, space.scale)


def bicubic_floor(space: SearchSpace, source: str | None = None) -> float | None:
    """``psnr_floor``, or None where the validation folder can no longer be read."""
    try:
        return psnr_floor(space, source)
    except InputError:
        return None


def _psnr_end(space: SearchSpace, frame: pd.DataFrame) -> tuple[float, str]:
    try:
        floor = psnr_floor(space)
    except InputError as error:
        worst = float(analysis.complete(frame)["psnr"].min())
        return worst, (f"worst PSNR seen, {worst:.3f} dB (moves with the data: the bicubic floor could not be "
                       f"computed: {error})")  # fmt: skip
    return floor, f"bicubic ×{space.scale} of the validation images, {floor:.3f} dB (fixed)"


def cost_end(space: SearchSpace, frame: pd.DataFrame, cost: str) -> tuple[float, str]:
    """The cost ceiling of ``space`` for ``cost`` and what it is (``frame``, the trials, only for a measured cost)."""
    limit = OBJECTIVES[cost].limit(space.constraints)
    if limit is not None:
        return float(limit), f"the space's {OBJECTIVES[cost].constraint}, {limit:.4g}"
    if cost in COUNTED_COSTS:
        costliest = bounds.costliest(space, cost)
        value = float(getattr(counting.network_cost(costliest), cost))
        return value, f"{cost} of the space's costliest genotype `{costliest}`, {value:.4g} (fixed)"
    largest = float(analysis.complete(frame)[cost].max()) * 1.05
    return largest, f"5 % above the largest {cost} seen, {largest:.4g} (moves with the data: measured, not counted)"


def space_reference(space: SearchSpace, frame: pd.DataFrame, cost: str) -> analysis.Reference:
    """The reference point of ``space`` for PSNR against ``cost``; ``frame`` (the trials) only for the fallbacks."""
    psnr, psnr_basis = _psnr_end(space, frame)
    ceiling, cost_basis = cost_end(space, frame, cost)
    return analysis.Reference(psnr, ceiling, psnr_basis, cost_basis)
