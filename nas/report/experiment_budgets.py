"""A designed experiment read at every training budget along its runs (``proxy.budgets``), and how its effects move.

Every run is validated at each budget along one training (``nas.core.training``), so the same runs give the whole
analysis (``experiment_analysis.analyse``) at each budget. The family is contrasts × budgets: each budget is read at
alpha / B (Bonferroni over the B budgets, the contrasts within it as ``analyse`` adjusts them), so every verdict at
every budget holds jointly. The headline is read at the largest budget: an effect at an early budget measures how
fast a block starts learning, and its sign can change as the networks learn.

In a design of changes to a trained parent the budgets are recovery budgets, a reading at 0 is each change before any
fine-tuning, and the verdict says how the parent itself moves as it is fine-tuned.

Whether an effect changes between the first and the last budget is its own test, never read from the two verdicts:
per contrast, the per-seed difference (contrast at the last budget minus at the first, paired by seed: one run gives
both readings) with a t interval on seeds - 1 degrees of freedom at alpha / K (Bonferroni over the K contrasts) and
Holm p-values over the same K.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from statsmodels.stats.multitest import multipletests

from nas.core.experiment_design import ExperimentDesign
from nas.json_values import jsonable
from nas.report import verdicts
from nas.report.experiment_analysis import analyse
from nas.report.experiment_contrasts import planned_effects
from nas.report.experiment_effects import ExperimentResult, paired_interval
from nas.report.experiment_runs import design_runs, seed_table


@dataclass(frozen=True)
class BudgetChange:
    """How one contrast moves from the first budget to the last: the mean per-seed change with its interval."""

    label: str
    change_db: float  # the contrast at the last budget minus at the first
    low_db: float
    high_db: float
    seeds: int
    p_value: float
    p_holm: float
    changes: bool  # the interval excludes 0 (never where ``not_drawn``)
    words: tuple[str, ...]  # its verdict at each budget, in budget order
    flips: bool  # helps at one budget and hurts at another
    not_drawn: str | None = None  # why no change is read: its arms have not learned at the first or the last budget

    @property
    def word_changes(self) -> bool:
        """Whether its verdict words differ between budgets where both are drawn (a description, not a test)."""
        return len({word for word in self.words if not word.startswith(verdicts.NOT_DRAWN)}) > 1


@dataclass(frozen=True)
class BudgetedExperiment:
    """A designed experiment at each budget, its headline budget and each contrast's change across budgets."""

    budgets: tuple[int, ...]
    headline_budget: int
    results: tuple[ExperimentResult, ...]  # per budget, in budget order
    changes: tuple[BudgetChange, ...]
    verdict: tuple[str, ...]

    @property
    def headline(self) -> ExperimentResult:
        return self.results[self.budgets.index(self.headline_budget)]

    def to_json(self) -> dict:
        """The headline budget's analysis (as a single-budget experiment.json holds it) with this verdict, the budgets,
        each contrast's change and the analysis at every budget."""
        return jsonable({
            **self.headline.to_json(), "verdict": list(self.verdict), "budgets": list(self.budgets),
            "headline_budget": self.headline_budget, "changes": [asdict(change) for change in self.changes],
            "at_budget": {str(b): result.to_json() for b, result in zip(self.budgets, self.results, strict=True)},
        })  # fmt: skip


def analyse_budgets(
    runs: pd.DataFrame, design: ExperimentDesign, activations: Mapping[str, int] | None = None
) -> BudgetedExperiment:
    """The analysis at each budget of ``runs`` (one row per run and budget: the columns ``analyse`` reads and
    ``budget``), the change of every contrast from the first budget to the last, and the verdict in words.

    Raises:
        ExperimentDataError: as ``analyse``, at any budget.
    """
    budgets = tuple(sorted(int(b) for b in runs["budget"].unique()))
    design = dataclasses.replace(design, budgets=len(budgets))  # the budgets read are the family's
    results = tuple(analyse(runs[runs["budget"] == b], design, activations) for b in budgets)
    changes = _changes(runs, design, budgets, results)
    headline = budgets[-1]
    return BudgetedExperiment(budgets, headline, results, changes, _verdict_lines(budgets, results, changes))


def _changes(
    runs: pd.DataFrame, design: ExperimentDesign, budgets: tuple[int, ...], results: tuple[ExperimentResult, ...]
) -> tuple[BudgetChange, ...]:
    """Per contrast, the paired test of its change from the first budget to the last (seeds complete in both)."""
    first, last = (
        seed_table(design_runs(runs[runs["budget"] == b], design)[0], design) for b in (budgets[0], budgets[-1])
    )
    planned = planned_effects(design)
    level = design.alpha / len(planned)
    intervals = []
    for effect in planned:
        weights = effect.contrast.weights(len(design.arms))
        arms = weights != 0
        complete = np.isfinite(first.psnr[arms]).all(axis=0) & np.isfinite(last.psnr[arms]).all(axis=0)
        per_seed = weights[arms] @ (last.psnr[arms][:, complete] - first.psnr[arms][:, complete])
        intervals.append(paired_interval(per_seed, level))
    p_holm = multipletests([i.p_value for i in intervals], alpha=design.alpha, method="holm")[1]
    found = []
    for index, (effect, interval, adjusted) in enumerate(zip(planned, intervals, p_holm, strict=True)):
        words = tuple(result.effects[index].verdict_text for result in results)
        kinds = {result.effects[index].verdict for result in results}
        # A change is read only between budgets where the contrast's arms have learned (the gate of every verdict).
        ends = (results[0].effects[index], results[-1].effects[index])
        unlearned = next((e.withheld for e in ends if e.verdict == verdicts.NOT_DRAWN), None)
        found.append(
            BudgetChange(
                effect.label,
                interval.estimate,
                interval.low,
                interval.high,
                interval.seeds,
                interval.p_value,
                float(adjusted),
                unlearned is None and (interval.low > 0 or interval.high < 0),
                words,
                {verdicts.HELPS, verdicts.HURTS} <= kinds,
                unlearned,
            )  # fmt: skip
        )
    return tuple(found)


# Only a design of changes to a trained parent analyses a reading at 0 (from scratch it is of untrained networks).
UNTRAINED_READING = (
    " At 0 iterations each arm is the parent changed before any fine-tuning: an arm with no part started fresh is the"
    " same network for every seed, so a contrast of two such arms has no seed noise there and an interval of no width."
)


def _verdict_lines(
    budgets: tuple[int, ...], results: tuple[ExperimentResult, ...], changes: tuple[BudgetChange, ...]
) -> tuple[str, ...]:
    """How the budgets are read, the verdict at the headline budget, then what changes across budgets."""
    read = ", ".join(str(b) for b in budgets)
    head = (
        f"Budgets: every run is read at {read} iterations along one training; the verdict below is read at the "
        f"largest, {budgets[-1]}; each budget is a family of its own at alpha / {len(budgets)} (Bonferroni over the "
        f"budgets). Whether an effect changes from {budgets[0]} to {budgets[-1]} iterations is a paired test of its "
        f"own (the per-seed change, t interval at alpha / {len(changes)}, Holm over the contrasts)."
        + (UNTRAINED_READING if budgets[0] == 0 else "")
    )
    moved = [c for c in changes if c.changes]
    flipped = [c for c in changes if c.flips]
    reworded = [c for c in changes if c.word_changes]
    unlearned = [c for c in changes if c.not_drawn]
    summary = (
        f"Across budgets: {len(moved)} of the {len(changes) - len(unlearned)} effects whose arms have learned at "
        f"{budgets[0]} and {budgets[-1]} iterations change between them"
        + (f" ({len(unlearned)} not drawn: arms under the minimum gain at one end)" if unlearned else "")
        + (": " + "; ".join(f"{c.label} {c.change_db:+.3f} dB [{c.low_db:+.3f}, {c.high_db:+.3f}]" for c in moved)
           if moved else "")
        + f"; {len(flipped)} change sign (helps at one budget, hurts at another)"
        + (": " + ", ".join(c.label for c in flipped) if flipped else "")
        + f"; the verdict words differ for {len(reworded)} (a description, not a test)"
        + (": " + "; ".join(f"{c.label} ({' → '.join(c.words)})" for c in reworded) if reworded else "")
        + "."
    )  # fmt: skip
    return (head, *_parent_drift(budgets, results), *results[-1].verdict, summary)


def _parent_drift(budgets: tuple[int, ...], results: tuple[ExperimentResult, ...]) -> tuple[str, ...]:
    """In a design of changes to a trained parent, how the parent itself moves as it is fine-tuned: every effect is
    measured from it, so an effect that shrinks may be the parent falling as well as the change recovering."""
    if results[0].parent is None:
        return ()
    means = [result.arms[0].psnr_mean_db for result in results]  # the parent is the design's first arm
    points = ", ".join(f"{mean:.3f} dB at {budget}" for budget, mean in zip(budgets, means, strict=True))
    return (
        f"The parent itself, fine-tuned the same way (the reference of every effect): {points} iterations (mean over "
        f"seeds), {means[-1] - means[0]:+.3f} dB from {budgets[0]} to {budgets[-1]}.",
    )
