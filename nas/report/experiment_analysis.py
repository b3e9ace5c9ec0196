"""``analyse``: a designed experiment's runs read against its design, from runs to the verdict in words.

The steps, each in a module named for its job: the runs per arm and seed (``experiment_runs``), the effects the
design reports (``experiment_contrasts``), each read per contrast and paired by seed (``experiment_effects``), the
depth tests (``experiment_depth``), the pooled fit as a sensitivity check (``experiment_pooled``) and the verdict's
words (``experiment_text``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pandas as pd

from nas.core.experiment_design import ExperimentDesign
from nas.report import experiment_effects, experiment_pooled, experiment_text
from nas.report.experiment_contrasts import planned_effects
from nas.report.experiment_depth import depth_tests
from nas.report.experiment_effects import ExperimentResult, IntervalBasis
from nas.report.experiment_runs import arm_summaries, design_runs, seed_table


def analyse(
    runs: pd.DataFrame, design: ExperimentDesign, activations: Mapping[str, int] | None = None
) -> ExperimentResult:
    """The effects, tests, noise and verdict of a designed experiment, read at one training budget.

    Every budget the design's runs are read at (``design.budgets``, ``nas.report.experiment_budgets``) is a family of
    its own at alpha / budgets (Bonferroni over budgets), so every verdict at every budget holds jointly.

    Args:
        runs: One row per training, with columns genotype, seed, psnr, psnr_bicubic, macs, params. Rows of other
            genotypes or seeds, and failed trainings (PSNR missing), are ignored and counted.
        design: The design the runs were trained for.
        activations: Each arm genotype's activations (``nas.core.counting.activations``), to say beside every
            effect; None: not said.

    Raises:
        ExperimentDataError: a column is missing, an arm has no runs or a single run, or a contrast has fewer than
            two seeds complete in all its arms.
    """
    budgets = design.budgets
    overall, design = design, dataclasses.replace(design, alpha=design.alpha / budgets)
    used, ignored, lost = design_runs(runs, design)
    table = seed_table(used, design)
    planned = planned_effects(design)
    over = f"{len(planned)} contrasts" + (f" x {budgets} budgets" if budgets > 1 else "")
    holm = "the same" if budgets == 1 else f"the {len(planned)} contrasts of this budget, at alpha / {budgets}"
    basis = IntervalBasis(
        confidence=1 - overall.alpha,
        per_interval=1 - design.alpha / len(planned),
        adjustment=f"Bonferroni over {over}; p-values Holm-adjusted over {holm}",
        contrasts=len(planned) * budgets,
        over=f"{len(design.seeds)} seeds per arm, paired by seed (each effect over the seeds complete in its arms)",
        method="per-contrast paired t: the mean over seeds of the per-seed contrast, t on seeds - 1 degrees of freedom",
    )
    arms = arm_summaries(used, design, lost, activations or {})
    scored = experiment_effects.score(table, planned, design, lost, arms)
    result = ExperimentResult(
        blocks=design.blocks,
        groups=design.groups,
        seeds=design.seeds,
        margin_db=design.margin_db,
        min_gain_db=design.min_gain_db,
        alpha=overall.alpha,
        control=design.control,
        parent=design.parent,
        mechanism=design.mechanism,
        control_matches=design.matches,
        control_gaps=design.gaps,
        runs_used=len(used),
        runs_ignored=ignored,
        arms=arms,
        interval=basis,
        effects=scored,
        claims=experiment_effects.claims(scored, design),
        beyond=experiment_effects.beyond_capacity(scored, design),
        depth_tests=depth_tests(table, design, arms),
        noise=experiment_effects.family_noise(scored, arms, planned, design),
        pooled=experiment_pooled.sensitivity(used, design, planned, scored),
        verdict=(),
    )
    return dataclasses.replace(result, verdict=experiment_text.verdict_lines(result))
