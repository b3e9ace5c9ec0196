"""The removal cost of a trained parent's block at each depth group, split into its parts, at every budget.

In a design of changes to a trained parent whose block has the capacity, freshness and mechanism controls, the cost
of removing the block's attention at g (``parent - drop g``) is the sum of three effects the report reads anyway:

- freshness, ``parent - fresh g``: the same block started fresh (what being fresh alone costs);
- attention over its parameters, ``fresh g - plain g``: the fresh block against a fresh plain branch of its
  parameters (both fresh, so on equal footing);
- parameters, ``plain g - drop g``: what a fresh plain branch of those parameters brings over none.

The sum is exact, estimate by estimate (each is a mean of per-seed differences of one set of runs); each part has
its own simultaneous interval. The gate is read apart, ``parent - fixed g``: the block with its gate held at a
constant that starts at the trained gate's mean, so it measures the gate's adaptivity, not the shock of a fresh
constant.
"""

from __future__ import annotations

from collections.abc import Sequence

from nas.core.experiment_design import group_text
from nas.report.experiment_contrasts import CONTROL_OVER_REMOVAL, FRESH_OVER_CONTROL
from nas.report.experiment_effects import DesignedEffect, ExperimentResult

# (column heading, family, arm kind) of each part, the removal first.
PARTS = (
    ("removal (parent − drop)", "attention", "drop"),
    ("freshness (parent − fresh)", "attention - freshness", "only"),
    ("attention over its parameters (fresh − plain)", FRESH_OVER_CONTROL, "only"),
    ("parameters (plain − drop)", CONTROL_OVER_REMOVAL, "drop"),
    ("gate (parent − fixed)", "attention - mechanism", "only"),
)


def _cell(effect: DesignedEffect | None) -> str:
    if effect is None:
        return "–"
    return f"{effect.estimate_db:+.3f} [{effect.low_db:+.3f}, {effect.high_db:+.3f}]"


def split_lines(readings: Sequence[tuple[str, ExperimentResult]]) -> list[str]:
    """The split's explanation and table, one row per (reading, block, group); ``readings``: (what the reading is,
    e.g. "150 iterations", and its analysis). Empty where no block of the design has every part."""
    rows = []
    for reading, result in readings:
        found = {(e.block, e.family, e.kind, e.group): e for e in result.effects}
        for block in result.blocks:
            for group, depths in enumerate(result.groups):
                parts = [found.get((block, family, kind, group)) for _, family, kind in PARTS]
                if all(part is not None for part in parts[:4]):
                    cells = " | ".join(_cell(part) for part in parts)
                    rows.append(f"| {reading} | {block} | {group_text(depths)} | {cells} |")
    if not rows:
        return []
    return [
        "Removal cost split (dB, each with its simultaneous interval): removal = freshness + attention over its "
        "parameters + parameters, exactly (each a mean over seeds of per-seed differences of the same runs); the "
        "gate is read apart, against the block with its gate a constant started at the trained gate's mean.",
        f"| reading | block | depths | {' | '.join(heading for heading, _, _ in PARTS)} |",
        f"|---|---|---|{'---|' * len(PARTS)}",
        *rows,
    ]
