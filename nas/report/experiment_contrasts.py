"""The contrasts of a designed experiment: which arms each reported effect compares, with which signs.

An effect is a signed sum of arms (``Contrast``): ``only g - none``, ``uniform - drop g``, ``uniform - none`` for a
block and for each of its controls, and attention minus each control's effect; in a design of changes to a trained
parent, ``only g - parent`` and ``parent - drop g``, and where the parent's block has a freshness control, that
control's ``only g`` arm minus the capacity control's (the fresh block over its fresh capacity control) and the
capacity control's ``only g`` arm minus ``drop g`` (what the fresh parameters bring): with the freshness control's
own effect they split the removal cost into its parts (``nas.report.experiment_split``).
``planned_effects`` lists every effect a result reports (the family its intervals are adjusted over),
``group_differences`` the contrasts a depth test compares.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nas.core.experiment_design import CAPACITY, FRESHNESS, MECHANISM, ExperimentDesign

# The effects of each control's own arms; "freshness" only in place of a trained parent's block.
CONTROL_FAMILIES = {CAPACITY: "control", MECHANISM: "mechanism", FRESHNESS: "freshness"}
# Fresh block - fresh capacity control: attention against plain convolution, both fresh in the trained block.
FRESH_OVER_CONTROL = "freshness - control"
# Fresh capacity control - removal: what a fresh plain branch of the block's parameters brings over none.
CONTROL_OVER_REMOVAL = "control - removal"
FAMILIES = (
    "attention",
    "control",
    "attention - control",
    "mechanism",
    "attention - mechanism",
    "freshness",
    "attention - freshness",
    FRESH_OVER_CONTROL,
    CONTROL_OVER_REMOVAL,
)


@dataclass(frozen=True)
class Contrast:
    """An effect as signed arms: +1 for each arm in ``plus``, -1 for each in ``minus``."""

    plus: tuple[int, ...]
    minus: tuple[int, ...]

    def weights(self, arms: int) -> np.ndarray:
        """The contrast as one weight per arm."""
        vector = np.zeros(arms)
        np.add.at(vector, list(self.plus), 1.0)
        np.add.at(vector, list(self.minus), -1.0)
        return vector

    @property
    def changes_nothing(self) -> bool:
        return sorted(self.plus) == sorted(self.minus)


@dataclass(frozen=True)
class PlannedEffect:
    """A reported effect before estimation: what it is, and its contrast of arms."""

    block: str
    family: str
    kind: str
    group: int | None
    label: str
    contrast: Contrast


def contrast_count(design: ExperimentDesign) -> int:
    """How many effects the report reads for ``design``, each at every budget its runs are read at: the family its
    intervals are adjusted over."""
    return len(planned_effects(design)) * design.budgets


def planned_effects(design: ExperimentDesign) -> list[PlannedEffect]:
    """Every reported effect: per block and arm kind/group, attention, then per control of the block its own
    effect and attention minus it; where the block has a freshness control, the fresh block minus its capacity
    control in place of the capacity control's effects (the trained block minus it would add freshness to it)."""
    planned = []
    for block in design.blocks:
        for kind, group in _keys(design, None):
            attention = Contrast(*_effect_arms(design, block, kind, group, None))
            label = _effect_label(design, block, kind, group, None)
            planned.append(PlannedEffect(block, "attention", kind, group, label, attention))
            controls = design.controls_of(block)
            for control in controls:
                if (kind, group) not in _keys(design, control) or (control == CAPACITY and FRESHNESS in controls):
                    continue  # with a freshness control, the capacity control is read against it (below)
                family = CONTROL_FAMILIES[control]
                own = Contrast(*_effect_arms(design, block, kind, group, control))
                if not attention.changes_nothing:  # else attention - control is its negative
                    own_label = _effect_label(design, block, kind, group, control)
                    planned.append(PlannedEffect(block, family, kind, group, own_label, own))
                difference = _net(Contrast(attention.plus + own.minus, attention.minus + own.plus))
                planned.append(
                    PlannedEffect(block, f"attention - {family}", kind, group, _label(design, difference), difference)
                )
            if {CAPACITY, FRESHNESS} <= set(design.controls_of(block)) and (kind, group) in _keys(design, FRESHNESS):
                fresh, plain = (_effect_arms(design, block, kind, group, c)[0] for c in (FRESHNESS, CAPACITY))
                over = Contrast(fresh, plain)
                planned.append(PlannedEffect(block, FRESH_OVER_CONTROL, kind, group, _label(design, over), over))
                if kind == "only" and ("drop", group) in _keys(design, None):
                    removed = _effect_arms(design, block, "drop", group, None)[1]
                    added = Contrast(plain, removed)
                    planned.append(
                        PlannedEffect(block, CONTROL_OVER_REMOVAL, "drop", group, _label(design, added), added)
                    )
    # An arm compared with itself (a change that leaves the parent as it was) is no effect to report.
    return [p for p in planned if not p.contrast.changes_nothing]


def _net(contrast: Contrast) -> Contrast:
    """The contrast with each arm that is both added and subtracted taken out (the shared reference)."""
    plus, minus = list(contrast.plus), list(contrast.minus)
    for arm in contrast.plus:
        if arm in minus:
            plus.remove(arm)
            minus.remove(arm)
    return Contrast(tuple(plus), tuple(minus))


def _label(design: ExperimentDesign, contrast: Contrast) -> str:
    """``a2b only 0-1 - conv(a2b) only 0-1``: the arms added, then the arms subtracted."""
    return " - ".join(" + ".join(design.arms[arm].label for arm in side) for side in (contrast.plus, contrast.minus))


def _keys(design: ExperimentDesign, control: str | None) -> list[tuple[str, int | None]]:
    """The (arm kind, group) of every effect of a block (``control`` None) or of one of its controls."""
    kinds = design.kinds(control)
    keys: list[tuple[str, int | None]] = [("uniform", None)] if "uniform" in kinds else []
    return keys + [(k, g) for k in ("only", "drop") if k in kinds for g in range(len(design.groups))]


def _effect_arms(
    design: ExperimentDesign, block: str, kind: str, group: int | None, control: str | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(plus, minus) arms: only g - none, uniform - drop g, uniform - none; with a parent (the ``none`` role),
    drop g is parent - drop g."""
    high: tuple[str, int | None]
    low: tuple[str, int | None]
    if kind == "drop":
        high, low = ("none" if design.parent else "uniform", None), ("drop", group)
    else:
        high, low = (kind, group), ("none", None)

    def index(kind: str, group: int | None) -> int:
        return design.arms.index(design.arm(block, kind, group, control))

    return (index(*high),), (index(*low),)


def _effect_label(design: ExperimentDesign, block: str, kind: str, group: int | None, control: str | None) -> str:
    return _label(design, Contrast(*_effect_arms(design, block, kind, group, control)))


def independent(rows: list[np.ndarray]) -> list[np.ndarray]:
    """A maximal linearly independent subset of ``rows``: shared arms can make restrictions repeat."""
    kept: list[np.ndarray] = []
    for row in rows:
        if np.linalg.matrix_rank(np.array([*kept, row])) > len(kept):
            kept.append(row)
    return kept


def group_differences(design: ExperimentDesign, block: str, control: str | None) -> list[np.ndarray]:
    """Per arm kind, each group's effect minus the first group's, as arm weights."""
    rows = []
    for kind in (k for k in ("only", "drop") if k in design.kinds(control)):
        contrasts = [Contrast(*_effect_arms(design, block, kind, g, control)) for g in range(len(design.groups))]
        # A group whose arm is the reference itself changes nothing: its zero contrast would test effect = 0.
        vectors = [c.weights(len(design.arms)) for c in contrasts if not c.changes_nothing]
        rows += [other - vectors[0] for other in vectors[1:]]
    return rows
