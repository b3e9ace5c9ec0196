"""The designed experiment of a study folder, read back: its runs, its analysis, its report section and its power.

The runs are the finished trials of the folder's experiment study (``nas experiment``); the design is rebuilt from
the study's pinned space, so the analysis (``nas.report.experiment.analyse``) sees exactly the arms that were
trained. ``planned_power`` gives ``nas experiment --plan`` its seed-noise yardstick and power numbers.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from nas.core import experiment
from nas.core.experiment import ExperimentDesign
from nas.report import analysis, figures
from nas.report.experiment import (
    ExperimentDataError,
    ExperimentResult,
    analyse,
    contrast_count,
    minimum_detectable_effect,
    seeds_needed_or_none,
)
from nas.search import records, studies
from nas.search.studies import StudyFolder

ASSUMED_NOISE_DB = 0.1  # the seed noise --plan assumes when the study has measured none (stated as such)
RUN_COLUMNS = ("genotype", "seed", "psnr", "macs", "params")


def design_of(folder: StudyFolder) -> ExperimentDesign | None:
    """The design of the folder's pinned space, or None when its space has no experiment section."""
    space = folder.space()
    settings = space.experiment
    if settings is None:
        return None
    return experiment.make_design(
        space, settings.blocks, settings.groups, settings.seeds, settings.margin_db, settings.control
    )


def runs_frame(folder: StudyFolder) -> pd.DataFrame:
    """One row per finished experiment training (trained or reused): genotype, seed, psnr, macs, params."""
    _, trials = studies.completed_designed(folder, studies.EXPERIMENT)
    rows = [{column: getattr(records.record_of(t), column) for column in RUN_COLUMNS} for t in trials]
    return pd.DataFrame(rows, columns=list(RUN_COLUMNS))


def result_of(folder: StudyFolder) -> ExperimentResult | str | None:
    """The analysis of the folder's experiment; a sentence saying why there is none yet; None without a design."""
    design = design_of(folder)
    if design is None:
        return None
    runs = runs_frame(folder)
    if runs.empty:
        return "the space names an experiment, but none of its runs has finished: run `nas experiment`"
    try:
        return analyse(runs, design)
    except ExperimentDataError as error:
        return f"not analysable yet ({error}); run `nas experiment` again to train the missing runs"


@dataclass(frozen=True)
class PlannedPower:
    noise_db: float
    noise_source: str
    contrasts: int
    detectable_db: float  # the effect detected with 80 % power at the design's seed count
    seeds_for_margin: int | None  # seeds that detect margin_db with 80 % power (None: more than 100,000)


def planned_power(folder: StudyFolder, design: ExperimentDesign) -> PlannedPower:
    """The power of ``design``, with the best seed-noise estimate the folder has: its experiment's residual noise,
    else the search baselines' seed noise, else an assumption (said so)."""
    noise, source = ASSUMED_NOISE_DB, f"assumed {ASSUMED_NOISE_DB} dB: the study has no repeated runs yet"
    earlier = result_of(folder) if folder.exists() else None
    if isinstance(earlier, ExperimentResult):
        noise, source = earlier.noise.std_db, f"residual σ of the experiment's {earlier.runs_used} runs so far"
    elif folder.exists():
        baseline = analysis.seed_noise(analysis.trials_frame(studies.load_study(folder)))
        if baseline.std_db:
            noise, source = baseline.std_db, f"seed noise of the search's repeated baselines ({baseline.dof} dof)"
    contrasts = contrast_count(design)
    return PlannedPower(
        noise_db=noise,
        noise_source=source,
        contrasts=contrasts,
        detectable_db=minimum_detectable_effect(noise, len(design.seeds), contrasts, design.alpha),
        seeds_for_margin=seeds_needed_or_none(noise, design.margin_db, contrasts, design.alpha),
    )


@dataclass(frozen=True)
class Section:
    """The report's "Designed experiment" section."""

    lines: list[str]  # Markdown lines
    pngs: list[str]  # figure file names written
    plots: dict[str, go.Figure]
    numbers: dict | None = None  # the analysis as experiment.json holds it; None before there is one

    def html(self) -> str:
        body = "".join(f"<p>{html.escape(line).replace('**', '')}</p>" for line in self.lines)
        divs = "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in self.plots.values())
        return f"<h2>Designed experiment</h2>{body}{divs}"


def section(folder: StudyFolder, figures_dir: Path) -> Section | None:
    """The section of the folder's experiment (forest plots written to ``figures_dir``), or None without one."""
    result = result_of(folder)
    if result is None:
        return None
    if isinstance(result, str):
        return Section([f"{result[0].upper()}{result[1:]}."], [], {})
    pngs, plots = [], {}
    for block in result.blocks:
        name = f"experiment_{block}.png"
        figures.forest_png(result, block, figures_dir / name)
        pngs.append(name)
        plots[f"experiment-{block}"] = figures.forest_plotly(result, block)
    numbers = result.to_json()
    (figures_dir.parent / "experiment.json").write_text(json.dumps(numbers, indent=2) + "\n")
    return Section(list(result.verdict), pngs, plots, numbers)
