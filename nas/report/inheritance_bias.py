"""How inheritance tilts a search of changes to a trained parent (``proxy.init``) towards the parent itself.

Every candidate starts from the parent: a slot that keeps the parent's block there is inherited whole, a slot with
another block starts that block fresh (``nas.core.inheritance``). After a short recovery a changed slot carries
both its block's worth and the cost of being fresh, so the search's PSNRs favour changing little. This module
counts, per trial, the slots changed from the parent and regresses PSNR on that count over the trained trials (the
seed as a block, as ``analysis.placement_effects`` does): an association in adaptively sampled trials, which the
designed inherited study's freshness control separates into its parts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from nas.core.experiment_design import PARENT_LABEL
from nas.core.genotypes import Genotype
from nas.report import analysis
from nas.study.records import Outcome


@dataclass(frozen=True)
class InheritanceBias:
    """``slope_db``: PSNR per slot changed from the parent, with its ``analysis.CONFIDENCE`` interval."""

    parent: str
    depth: int
    front_changed: tuple[int, ...]  # slots changed from the parent, per front network
    trials_changed_median: float
    slope_db: float
    low_db: float
    high_db: float
    trainings: int


def changed_slots(rows: pd.DataFrame, parent: Genotype) -> np.ndarray:
    """How many depths of each row hold another block than the parent's there."""
    depths = analysis.depth_columns(rows)
    return np.array([sum(row[d] != parent.blocks[i] for i, d in enumerate(depths)) for _, row in rows.iterrows()])


def bias(frame: pd.DataFrame, front: pd.DataFrame) -> InheritanceBias | None:
    """The front's and the trials' distance from the parent and PSNR per changed slot; None in a study without a
    parent among its baselines, or with too few trainings to fit."""
    parents = frame.loc[frame["baseline"] == PARENT_LABEL, "genotype"]
    if parents.empty:
        return None
    parent = Genotype.parse(str(parents.iloc[0]))
    trained = frame[frame["outcome"] == Outcome.TRAINED.value]
    changed = changed_slots(trained, parent)
    seeds = pd.get_dummies(trained["seed"].astype(str), drop_first=True, dtype=float).to_numpy()
    design = np.column_stack([np.ones(len(trained)), changed, seeds])
    if len(trained) <= design.shape[1] or np.linalg.matrix_rank(design) < design.shape[1]:
        return None
    fit = sm.OLS(trained["psnr"].to_numpy(dtype=float), design).fit()
    low, high = fit.conf_int(alpha=1 - analysis.CONFIDENCE)[1]
    front_changed = tuple(int(c) for c in changed_slots(front, parent))
    return InheritanceBias(str(parent), parent.depth, front_changed, float(np.median(changed)), float(fit.params[1]),
                           float(low), float(high), len(trained))  # fmt: skip


def bias_line(found: InheritanceBias | None) -> list[str]:
    """The report's line on inheritance, worded as the association it is (none without a parent)."""
    if found is None:
        return []
    front = np.array(found.front_changed)
    direction = "fewer" if np.median(front) < found.trials_changed_median else "no fewer"
    return [
        f"**Inheritance (exploratory; single search runs):** every candidate starts from the parent `{found.parent}`"
        f": a slot that keeps the parent's block is inherited whole, a changed slot starts its block fresh. The "
        f"front's {len(front)} networks change a median of {np.median(front):g} of {found.depth} slots (range "
        f"{front.min()}–{front.max()}), {direction} than the trained trials' median of "
        f"{found.trials_changed_median:g}. Over the {found.trainings} trainings PSNR moves by "
        f"{found.slope_db:+.3f} dB per changed slot ({100 * analysis.CONFIDENCE:.0f}% CI [{found.low_db:+.3f}, "
        f"{found.high_db:+.3f}], OLS with the seed as a block): an association in which a changed slot is both "
        "another block and a fresh one; the designed inherited study's freshness control separates the two."
    ]
