"""The search against random sampling: its hypervolume beside that of random searches of the same space, the same
number of trials and the same seed (``nas random-search``, ``nas.search.random_search``).

Both are single runs: one search, and each repeat one random search, every trial at the search's seed. Under the
null that the search is no better than random sampling, its hypervolume and the repeats' are exchangeable, so it
ranks first among ``repeats + 1`` with probability 1 / (repeats + 1): that is the only test the comparison offers,
and with fewer than 19 repeats it cannot reach 5 %. Fewer repeats still describe, and are worded as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from nas.core.settings import DEFAULT_ALPHA
from nas.report import analysis
from nas.study import records
from nas.study.folder import Kind, StudyFolder
from nas.study.storage import load_designed, recorded_sequences

ALPHA = DEFAULT_ALPHA


@dataclass(frozen=True)
class RandomComparison:
    """Hypervolumes after ``trials`` trials: the search's and each random repeat's (``missing``: the repeats' runs
    not trained yet; a repeat with any is left out)."""

    cost: str
    trials: int
    search_hypervolume: float
    random_hypervolumes: tuple[float, ...]
    missing: int

    @property
    def above(self) -> int:
        """How many repeats the search's hypervolume exceeds."""
        return sum(self.search_hypervolume > volume for volume in self.random_hypervolumes)

    @property
    def p_value(self) -> float | None:
        """P(the search ranks at least this high | exchangeable with the repeats); None without repeats."""
        repeats = len(self.random_hypervolumes)
        return (repeats - self.above + 1) / (repeats + 1) if repeats else None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "above": self.above, "p_value": self.p_value, "alpha": ALPHA}


def running_hypervolume(points: list[tuple[float, float] | None], reference: analysis.Reference) -> np.ndarray:
    """Hypervolume after each trial of a sequence of (cost, PSNR) points (None: a trial without a value)."""
    valued = [index for index, point in enumerate(points) if point is not None]
    values = np.array([points[index] for index in valued], dtype=float).reshape(-1, 2)
    volumes = np.zeros(len(points))
    for index, volume in zip(valued, analysis.running_front_area(values[:, 0], values[:, 1], reference), strict=True):
        volumes[index:] = volume
    return volumes


def _search_points(frame: pd.DataFrame, cost: str, trials: int) -> list[tuple[float, float] | None]:
    """The search's first ``trials`` counted trials in order, as (cost, PSNR) or None."""
    counted = frame[frame["outcome"] != records.Outcome.INTERRUPTED.value].sort_values("number").head(trials)
    return [(row[cost], row["psnr"]) if row["state"] == "COMPLETE" else None for _, row in counted.iterrows()]


def _random_curves(
    folder: StudyFolder, cost: str, reference: analysis.Reference
) -> tuple[int, list[np.ndarray], int] | None:
    """The trial count, each fully trained repeat's running hypervolume and the count of runs still untrained."""
    study = load_designed(folder, Kind.RANDOM)
    trials, sequences = recorded_sequences(study)
    if study is None or not sequences:
        return None
    points: dict[tuple[str, int], tuple[float, float] | None] = {}
    for trial in study.get_trials(deepcopy=False):
        record = records.record_of(trial)
        if records.counted(trial) and record.genotype is not None and record.seed is not None:
            valued = trial.state.name == "COMPLETE"
            points[(record.genotype, record.seed)] = (getattr(record, cost), record.psnr) if valued else None
    missing = len({run for sequence in sequences for run in sequence} - points.keys())
    curves = [
        running_hypervolume([points[run] for run in sequence], reference)
        for sequence in sequences
        if all(run in points for run in sequence)
    ]
    return trials, curves, missing


def compare(
    folder: StudyFolder, frame: pd.DataFrame, cost: str, reference: analysis.Reference
) -> tuple[RandomComparison, pd.DataFrame] | None:
    """The comparison after the baseline's trial count and the repeats' curves (trials, median, low, high: min
    and max over the repeats), or None without a baseline."""
    found = _random_curves(folder, cost, reference)
    if found is None:
        return None
    trials, curves, missing = found
    search = running_hypervolume(_search_points(frame, cost, trials), reference)
    final = tuple(float(curve[-1]) for curve in curves)
    comparison = RandomComparison(cost, trials, float(search[-1]) if len(search) else 0.0, final, missing)
    stacked = np.vstack(curves) if curves else np.full((1, trials), np.nan)
    band = pd.DataFrame({
        "trials": np.arange(1, trials + 1), "median": np.median(stacked, axis=0),
        "low": stacked.min(axis=0), "high": stacked.max(axis=0),
    })  # fmt: skip
    return comparison, band


def verdict_line(comparison: RandomComparison | None, folder: StudyFolder, unlearned: str | None) -> str:
    """The search against random sampling, in words no stronger than the repeats allow."""
    head = "**Search against random sampling"
    if comparison is None:
        return (f"{head}:** no baseline yet. `nas random-search {folder.root} --repeats R` trains R random searches "
                "of this space with the search's trial count and seed; the hypervolume figure and this line then "
                "compare them.")  # fmt: skip
    if unlearned is not None:
        return f"{head}:** not drawn: {unlearned}."
    volumes = comparison.random_hypervolumes
    untrained = f" ({comparison.missing} of their runs are not trained yet)" if comparison.missing else ""
    if not volumes:
        return f"{head}:** no random repeat is complete yet{untrained}; run `nas random-search {folder.root}` again."
    repeats = len(volumes)
    described = (f"{head} ({comparison.cost}, after {comparison.trials} trials, single runs at the search's seed):** "
                 f"the search's hypervolume {comparison.search_hypervolume:.4f}; {repeats} random "
                 f"search{'es' if repeats > 1 else ''} of the same space, trials and seed reach "
                 f"{_spread(volumes)}{untrained}. The search is above {comparison.above} of {repeats}; ")  # fmt: skip
    p_value = comparison.p_value
    if comparison.above == repeats and p_value is not None and p_value <= ALPHA:
        return described + (f"ranking first of {repeats + 1} has probability {p_value:.3f} if it is no better than "
                            f"random sampling: it beats random sampling (rank test, α {ALPHA:g}).")  # fmt: skip
    return described + (f"with {repeats + 1} runs the smallest attainable rank p-value is {1 / (repeats + 1):.3f}"
                        f"{'' if repeats + 1 >= 1 / ALPHA else f', so no test at α {ALPHA:g} is possible'}: "
                        "descriptive, not shown to beat random sampling.")  # fmt: skip


def _spread(volumes: tuple[float, ...]) -> str:
    if len(volumes) == 1:
        return f"{volumes[0]:.4f}"
    return f"median {float(np.median(volumes)):.4f} (range {min(volumes):.4f}–{max(volumes):.4f})"
