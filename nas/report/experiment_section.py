"""The designed experiment of a study folder, read back: its runs, its analysis, its report section and its power.

The runs are the finished trials of the folder's experiment study (``nas experiment``); the design is rebuilt from
the study's pinned space, so the analysis (``nas.report.experiment_analysis.analyse``) sees exactly the arms that
were trained. ``planned_power`` gives ``nas experiment --plan`` its paired-noise yardstick and power per contrast
family.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from nas import study as studies
from nas.core import counting
from nas.core.experiment_design import ExperimentDesign, analysed_budgets
from nas.core.genotypes import Genotype
from nas.core.pinned_spaces import pinned_path
from nas.core.power import PlannedPower, family_power, power_basis
from nas.report import analysis
from nas.report import study_figures as figures
from nas.report.experiment_analysis import analyse
from nas.report.experiment_budgets import BudgetedExperiment, analyse_budgets
from nas.report.experiment_contrasts import contrast_count
from nas.report.experiment_effects import ExperimentResult
from nas.report.experiment_runs import RUN_COLUMNS, ExperimentDataError
from nas.report.experiment_split import split_lines
from nas.report.reference import bicubic_floor
from nas.study import records
from nas.study.folder import StudyFolder
from nas.study.records import Outcome
from nas.trained import parents

# The noise --plan assumes when the study has measured none (stated as such): a paired contrast's sd over seeds.
# Under common random numbers the median contrast of a family measured 0.009-0.060 dB on sr_tiny and 0.013-0.055 dB
# in the published studies (bench/RESULTS.md), so 0.15 errs on the side of more seeds there; one unstable arm makes
# the contrasts it is in far noisier (0.475 dB), which no assumption made before the runs foresees.
ASSUMED_PAIRED_SD_DB = 0.15
EVERY_FAMILY = "every contrast family"


def design_of(folder: StudyFolder) -> ExperimentDesign | None:
    """The design of the folder's pinned space, or None when its space has no experiment section."""
    return parents.design_of(folder.space())


def runs_frame(folder: StudyFolder, also: int | None = None) -> pd.DataFrame:
    """One row per finished experiment training and budget its design analyses (``analysed_budgets``): genotype,
    seed, budget, psnr (at that budget), psnr_bicubic, macs, params; a failed one (an exception, a diverged loss)
    without a PSNR, so the analysis counts it lost (an infeasible arm is left out: never run). A run recorded before
    trainings stated their bicubic floor gets the floor of the space's validation images; one recorded without
    readings is read at its end. With ``also``, the PSNR and floor of the space's ``data.also_val[also]`` instead."""
    study = studies.load_designed(folder, studies.Kind.EXPERIMENT)
    finished = [records.record_of(t) for t in study.get_trials(deepcopy=False)] if study else []
    kept = (r for r in finished if r.outcome is not None and (r.outcome.has_values or r.outcome is Outcome.FAILED))
    space = folder.space()
    budgets = analysed_budgets(space)
    rows = []
    for record in kept:
        row = {column: getattr(record, column) for column in RUN_COLUMNS}
        if also is not None:
            row["psnr_bicubic"] = None  # the floor of that source, below
        if record.psnr is None:  # failed: lost at every budget
            rows += [{**row, "budget": budget} for budget in budgets]
            continue
        read: dict[int, float | None]
        if also is None:
            read = {reading["iterations"]: reading["psnr"] for reading in record.readings or ()}
            read = read or {budgets[-1]: record.psnr}
        else:  # a reading without it counts as lost
            read = {r["iterations"]: (r.get("also_psnr") or [None] * (also + 1))[also] for r in record.readings or ()}
            read = read or dict.fromkeys(budgets)
        rows += [{**row, "budget": budget, "psnr": psnr} for budget, psnr in read.items() if budget in budgets]
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "budget"])
    source = None if also is None else space.data.also_val[also]
    floor = bicubic_floor(space, source) if frame["psnr_bicubic"].isna().any() else None
    if floor is not None:  # else the gains stay unknown, and nothing is drawn from them
        frame["psnr_bicubic"] = frame["psnr_bicubic"].fillna(floor)
    return frame


def result_of(folder: StudyFolder, also: int | None = None) -> ExperimentResult | BudgetedExperiment | str | None:
    """The analysis of the folder's experiment (at each budget where its runs were read at several, but a
    from-scratch design's reading at 0; on its ``data.also_val[also]`` with ``also``); a sentence saying why there
    is none yet; None without a design."""
    design = design_of(folder)
    if design is None:
        return None
    runs = runs_frame(folder, also)
    if runs.empty:
        return "the space names an experiment, but none of its runs has finished: run `nas experiment`"
    try:
        if runs["budget"].nunique() > 1:
            return analyse_budgets(runs, design, arm_activations(design))
        return analyse(runs, design, arm_activations(design))
    except ExperimentDataError as error:
        failures = _recorded_failures(folder)
        if not failures:
            return f"not analysable yet ({error}); run `nas experiment` again to train the missing runs"
        return (
            f"not analysable ({error}); the study recorded {len(failures)} run(s) that did not train ("
            + "; ".join(f"{arm}: {reason}" for arm, reason in failures.items())
            + "): a failure is an outcome, kept and not retried, so running `nas experiment` again does not change "
            "it; remove its cause and train the experiment in another --results folder"
        )


def _recorded_failures(folder: StudyFolder) -> dict[str, str]:
    """Per arm label, the reason of its first run recorded failed or infeasible."""
    study = studies.load_designed(folder, studies.Kind.EXPERIMENT)
    failures: dict[str, str] = {}
    for trial in study.get_trials(deepcopy=False) if study else []:
        record = records.record_of(trial)
        if record.outcome in (Outcome.FAILED, Outcome.INFEASIBLE) and record.arm is not None:
            failures.setdefault(record.arm, f"seed {record.seed} {record.outcome.value}: {record.error}")
    return failures


def arm_activations(design: ExperimentDesign) -> dict[str, int]:
    """Each arm's activations for the cost output size (``nas.core.counting.activations``)."""
    return {arm.genotype: counting.activations(Genotype.parse(arm.genotype)) for arm in design.arms}


def planned_power(folder: StudyFolder, design: ExperimentDesign) -> PlannedPower:
    """The power of ``design`` per contrast family, from the best estimate the folder has of each family's paired
    sd: the experiment's own runs so far (each family's median contrast, its range from the calmest contrast to the
    noisiest), else the paired-difference noise of the search's repeated baselines (one sd for every family, with its
    interval), else √2 × the search's one-run seed noise (an upper bound for a two-arm contrast whose runs are not
    negatively correlated within a seed), else an assumption (said so). The seed count comes with its range."""
    contrasts = contrast_count(design)
    earlier = result_of(folder) if folder.exists() else None
    if isinstance(earlier, BudgetedExperiment):
        earlier = earlier.headline
    if isinstance(earlier, ExperimentResult):
        families = tuple(
            family_power(
                f.family,
                f.contrasts,
                f.median_sd_db,
                (f.low_sd_db, f.high_sd_db),
                f"the experiment's {earlier.runs_used} runs so far: the median of {f.contrasts} contrast(s), the range "
                "from the calmest to the noisiest",
                seeds=len(design.seeds),
                margin_db=design.margin_db,
                design_contrasts=contrasts,
                alpha=design.alpha,
            )  # fmt: skip
            for f in earlier.noise
        )
        return PlannedPower(contrasts, families, power_basis(contrasts, design.alpha))
    sd, source = ASSUMED_PAIRED_SD_DB, f"assumed {ASSUMED_PAIRED_SD_DB} dB: the study has no repeated runs yet"
    interval: tuple[float, float] | None = None
    if folder.exists():
        frame = analysis.trials_frame(studies.load_study(folder))
        paired, one_run = analysis.paired_noise(frame), analysis.seed_noise(frame)
        if paired.std_db and paired.low_db is not None and paired.high_db is not None:
            sd, interval = paired.std_db, (paired.low_db, paired.high_db)  # a zero estimate cannot size a test
            source = f"paired-difference noise of the search's repeated baselines ({paired.dof} dof)"
        elif one_run.std_db and one_run.low_db is not None and one_run.high_db is not None:
            sd, interval = (
                math.sqrt(2) * one_run.std_db,
                (math.sqrt(2) * one_run.low_db, math.sqrt(2) * one_run.high_db),
            )
            source = (
                f"√2 × the one-run seed noise of the search's repeated baselines ({one_run.dof} dof): an upper bound "
                "for a two-arm contrast whose runs are not negatively correlated within a seed"
            )
    return one_sd_power(design, sd, interval, source)


def given_power(paired_sd_db: float) -> Callable[[StudyFolder, ExperimentDesign], PlannedPower]:
    """The power of a design at one paired sd given for every contrast family (``nas experiment --plan
    --paired-sd``), measured elsewhere, such as by ``bench/learning_curve.py``, whatever its folder holds."""

    def power(_folder: StudyFolder, design: ExperimentDesign) -> PlannedPower:
        return one_sd_power(design, paired_sd_db, None, f"{paired_sd_db:g} dB given with --paired-sd")

    return power


def one_sd_power(
    design: ExperimentDesign, sd: float, interval: tuple[float, float] | None, source: str
) -> PlannedPower:
    """The power of ``design`` with one paired sd (and its interval, where known) for every contrast family."""
    contrasts = contrast_count(design)
    every = family_power(
        EVERY_FAMILY, contrasts, sd, interval, source,
        seeds=len(design.seeds), margin_db=design.margin_db, design_contrasts=contrasts, alpha=design.alpha,
    )  # fmt: skip
    return PlannedPower(contrasts, (every,), power_basis(contrasts, design.alpha))


@dataclass(frozen=True)
class Section:
    """The report's "Designed experiment" section."""

    lines: list[str]  # Markdown lines
    pngs: list[str]  # figure file names written
    plots: dict[str, go.Figure]
    numbers: dict | None = None  # the analysis as experiment.json holds it; None before there is one
    why_not: str | None = None  # why there is no analysis yet (the runs so far cannot be analysed) and what to do


def section(folder: StudyFolder, figures_dir: Path) -> Section | None:
    """The section of the folder's experiment (forest plots written to ``figures_dir``), or None without one."""
    result = result_of(folder)
    if result is None:
        return None
    if isinstance(result, str):
        return Section(_verdict_of(result), [], {}, why_not=result)
    headline = result.headline if isinstance(result, BudgetedExperiment) else result
    pngs, plots = [], {}
    for block in headline.blocks:
        name = f"experiment_{block}.png"
        figures.forest_png(headline, block, figures_dir / name)
        pngs.append(name)
        plots[f"experiment-{block}"] = figures.forest_plotly(headline, block)
    if isinstance(result, BudgetedExperiment):
        for block in headline.blocks:
            name = f"experiment_{block}_budgets.png"
            figures.budget_curves_png(result, block, figures_dir / name)
            pngs.append(name)
    numbers = result.to_json()
    lines = _verdict_of(result)
    also_val = folder.space().data.also_val
    if also_val:
        by_source = {pinned_path(source): result_of(folder, index) for index, source in enumerate(also_val)}
        numbers["also_val"] = {source: _json_of(found) for source, found in by_source.items()}
        for source, found in by_source.items():
            lines += [f"**Also validated on `{source}`**: the same runs, read on these images, a check of the "
                      "verdict above (which reads `data.val`); its intervals are not adjusted for the sources read, so "
                      "a verdict found here alone is no finding.", *_verdict_of(found)]  # fmt: skip
    studies.write_atomically(folder.experiment_json, json.dumps(numbers, indent=2) + "\n")
    return Section(lines, pngs, plots, numbers)


def _verdict_of(result: ExperimentResult | BudgetedExperiment | str | None) -> list[str]:
    """The verdict lines of an analysis with the removal cost's split where the design has one, or the sentence
    saying why there is none, as a line."""
    if isinstance(result, BudgetedExperiment):
        readings = [
            (f"{budget} iterations", found) for budget, found in zip(result.budgets, result.results, strict=True)
        ]
        return [*result.verdict, *split_lines(readings)]
    if isinstance(result, ExperimentResult):
        return [*result.verdict, *split_lines([("end of training", result)])]
    return [f"{str(result)[0].upper()}{str(result)[1:]}."]


def _json_of(result: ExperimentResult | BudgetedExperiment | str | None) -> dict | str | None:
    return result.to_json() if isinstance(result, (ExperimentResult, BudgetedExperiment)) else result
