"""How inheritance tilts a search of changes to a trained parent (``proxy.init``) towards the parent itself.

Every candidate starts from the parent: a slot that keeps the parent's block there is inherited whole, a slot with
another block starts that block fresh (``nas.core.inheritance``). After a short recovery a changed slot carries
both its block's worth and the cost of being fresh, so the search's PSNRs favour changing little. This module
counts, per trial, the slots changed from the parent and regresses PSNR on that count over the sampled trainings
(the seed as a block, as ``analysis.placement_effects`` does; the enqueued uniform placements left out): an
association in adaptively sampled trials, which the designed inherited study's controls separate into its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from nas.core.genotypes import Genotype
from nas.report import analysis
from nas.study.records import Outcome


@dataclass(frozen=True)
class InheritanceBias:
    """``slope_db``: PSNR per slot changed from the parent, with its ``analysis.CONFIDENCE`` interval."""

    parent: str
    depth: int
    front_changed: tuple[int, ...]  # slots changed from the parent, per distinct front genotype
    trials_changed_median: float  # over the sampled trainings (not the enqueued uniform placements)
    trials_changed_low: int
    trials_changed_high: int
    slope_db: float
    low_db: float
    high_db: float
    trainings: int


def changed_slots(rows: pd.DataFrame, parent: Genotype) -> np.ndarray:
    """How many depths of each row's genotype hold another block than the parent's there."""
    return np.array([
        sum(ours != theirs for ours, theirs in zip(Genotype.parse(g).blocks, parent.blocks, strict=True))
        for g in rows["genotype"]
    ])  # fmt: skip


def bias(frame: pd.DataFrame, front: pd.DataFrame, parent: Genotype | None) -> InheritanceBias | None:
    """The front's and the sampled trials' distance from ``parent`` and the PSNR per changed slot over the sampled
    trials (the enqueued uniform placements, all at one end of the count, would set the slope alone); None without a
    parent or with too few sampled trainings to fit."""
    if parent is None:
        return None
    sampled = frame[(frame["outcome"] == Outcome.TRAINED.value) & frame["baseline"].isna()]
    changed = changed_slots(sampled, parent)
    seeds = pd.get_dummies(sampled["seed"].astype(str), drop_first=True, dtype=float).to_numpy()
    design = np.column_stack([np.ones(len(sampled)), changed, seeds])
    if len(sampled) <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    fit = sm.OLS(sampled["psnr"].to_numpy(dtype=float), design).fit()
    low, high = fit.conf_int(alpha=1 - analysis.CONFIDENCE)[1]
    front_changed = tuple(int(c) for c in changed_slots(front.drop_duplicates("genotype"), parent))
    return InheritanceBias(str(parent), parent.depth, front_changed, float(np.median(changed)), int(changed.min()),
                           int(changed.max()), float(fit.params[1]), float(low), float(high), len(sampled))  # fmt: skip


def bias_line(found: InheritanceBias | None) -> list[str]:
    """The report's line on inheritance, worded as the association it is (none without a parent)."""
    if found is None:
        return []
    front = np.array(found.front_changed)
    direction = "fewer" if np.median(front) < found.trials_changed_median else "no fewer"
    return [
        f"**Inheritance (exploratory; single search runs):** every candidate starts from the parent `{found.parent}`"
        f": a slot that keeps the parent's block is inherited whole, a changed slot starts its block fresh. The "
        f"front's {len(front)} genotypes change a median of {np.median(front):g} of {found.depth} slots (range "
        f"{front.min()}–{front.max()}), {direction} than the sampled trials' median of "
        f"{found.trials_changed_median:g} (they change {found.trials_changed_low}–{found.trials_changed_high}). "
        f"Over those {found.trainings} trainings PSNR moves by {found.slope_db:+.3f} dB "
        f"per changed slot ({100 * analysis.CONFIDENCE:.0f}% CI [{found.low_db:+.3f}, {found.high_db:+.3f}], OLS with "
        "the seed as a block; a straight line through the counts they span): an association in which a changed slot "
        "is both another block, of its own cost, and a fresh one; the designed inherited study's freshness control "
        "separates the two."
    ]
