"""The runs of a designed experiment, read against its design: which arm and seed each is, which were lost.

A run that failed or diverged is an outcome: it is counted per arm (``ArmSummary.lost``), never silently dropped.
``SeedTable`` holds one PSNR per arm and seed, the form every paired contrast reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nas.core.experiment_design import ExperimentDesign, role_label
from nas.core.objectives import COUNTED_COSTS
from nas.errors import InputError
from nas.report import learned

# What a designed run gives the analysis: psnr_bicubic is the floor of its validation images (its gain's zero).
RUN_COLUMNS = ("genotype", "seed", "psnr", "psnr_bicubic", *COUNTED_COSTS)


class ExperimentDataError(InputError):
    """Runs that cannot be analysed against their design."""


@dataclass(frozen=True)
class ArmSummary:
    """One arm's runs: count, runs lost (failed or diverged), mean PSNR (not paired) and mean gain over bicubic
    upsampling of the validation images, sd across seeds, cost."""

    label: str
    genotype: str
    roles: tuple[str, ...]
    runs: int
    lost: int
    psnr_mean_db: float
    psnr_sd_db: float  # across seeds (an arm has two runs or more)
    gain_db: float  # the mean over its runs of PSNR minus bicubic's on the same images
    params: float | None
    macs: float | None
    activations: float | None = None  # ``nas.core.counting.activations``, where the caller counted them


@dataclass(frozen=True)
class SeedTable:
    """The design's runs as one PSNR per arm and seed (NaN: lost or not trained), seeds in design order."""

    psnr: np.ndarray  # arms × seeds
    seeds: tuple[int, ...]

    def per_seed(self, weights: np.ndarray) -> np.ndarray:
        """A contrast's value at every seed complete in all of its arms."""
        arms = weights != 0
        complete = np.isfinite(self.psnr[arms]).all(axis=0)
        return weights[arms] @ self.psnr[arms][:, complete]


def design_runs(runs: pd.DataFrame, design: ExperimentDesign) -> tuple[pd.DataFrame, int, list[int]]:
    """The runs of the design's arms and seeds with a PSNR, an ``arm`` index column added; the count of the rows
    ignored (other genotypes or seeds, or a failure of a run that was trained after all); and per arm, how many of
    the design's seeds lost their run (a row without a PSNR and none with one: failed or diverged)."""
    missing = [c for c in RUN_COLUMNS if c not in runs.columns]
    if missing:
        raise ExperimentDataError(f"runs lack the column(s) {', '.join(missing)}; give {', '.join(RUN_COLUMNS)}")
    index = {arm.genotype: i for i, arm in enumerate(design.arms)}
    psnr = pd.to_numeric(runs["psnr"], errors="coerce")
    designed = runs["genotype"].isin(list(index)) & runs["seed"].isin(list(design.seeds))
    keep = designed & np.isfinite(psnr)
    used = runs[keep].assign(psnr=psnr[keep], arm=runs.loc[keep, "genotype"].map(index))
    absent = [design.arms[i].label for i in range(len(design.arms)) if i not in set(used["arm"])]
    if absent:
        raise ExperimentDataError(
            f"arm(s) {', '.join(absent)} have no runs with the design's seeds; train them before analysing"
        )
    single = [design.arms[i].label for i, count in used["arm"].value_counts().items() if count < 2]
    if single:  # one run: no contrast with this arm has two seeds to estimate its noise from
        raise ExperimentDataError(f"arm(s) {', '.join(single)} have one run; train every arm with at least two seeds")
    trained = set(zip(used["arm"], used["seed"], strict=True))
    failed = runs[designed & ~keep]
    lost_pairs = {(index[g], seed) for g, seed in zip(failed["genotype"], failed["seed"], strict=True)} - trained
    lost = [sum(1 for arm, _ in lost_pairs if arm == i) for i in range(len(design.arms))]
    return used, len(runs) - len(used) - len(lost_pairs), lost


def seed_table(used: pd.DataFrame, design: ExperimentDesign) -> SeedTable:
    """One PSNR per arm and seed (the mean, should an arm and seed have trained twice)."""
    means = used.groupby(["arm", "seed"])["psnr"].mean()
    psnr = np.full((len(design.arms), len(design.seeds)), np.nan)
    column = {seed: j for j, seed in enumerate(design.seeds)}
    for (arm, seed), value in means.items():
        psnr[int(arm), column[seed]] = value
    return SeedTable(psnr, design.seeds)


def arm_summaries(
    used: pd.DataFrame, design: ExperimentDesign, lost: list[int], activations: Mapping[str, int]
) -> tuple[ArmSummary, ...]:
    columns = ["psnr", "psnr_bicubic", *COUNTED_COSTS]
    values = used[columns].to_numpy(dtype=float)  # a cost not recorded is None: NaN here
    arms = used["arm"].to_numpy()
    summaries = []
    for index, arm in enumerate(design.arms):
        rows = values[arms == index]
        recorded = np.isfinite(rows)
        totals, counts = np.where(recorded, rows, 0.0).sum(axis=0), recorded.sum(axis=0)
        mean = np.divide(totals, counts, out=np.full(len(columns), np.nan), where=counts > 0)
        means = dict(zip(columns, mean, strict=True))
        roles = (
            arm.label,
            *(
                role_label(role, design.groups, design.control, design.has_trained_controls(role.block))
                for role in arm.also
            ),
        )
        costs = {cost: None if np.isnan(means[cost]) else float(means[cost]) for cost in COUNTED_COSTS}
        counted = activations.get(arm.genotype)
        summaries.append(
            ArmSummary(
                arm.label,
                arm.genotype,
                roles,
                len(rows),
                lost[index],
                float(means["psnr"]),
                float(np.std(rows[:, 0], ddof=1)),
                float(np.mean(rows[:, 0] - rows[:, 1])),
                **costs,
                activations=None if counted is None else float(counted),
            )
        )
    return tuple(summaries)


def short_of_gain(arms: tuple[ArmSummary, ...], indices: Iterable[int], design: ExperimentDesign) -> str | None:
    """Why no verdict may rest on the arms at ``indices`` (``nas.report.learned.short_of_gain``), or None. In a
    design of changes to a trained parent only the parent (the first arm) must have learned: each arm is a change
    of a network that has, and what the change costs is the measurement, even where it falls under bicubic."""
    gated = (0,) if design.parent is not None else indices
    return learned.short_of_gain({arms[index].label: arms[index].gain_db for index in gated}, design.min_gain_db)
