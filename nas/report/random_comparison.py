"""The search against random sampling: its hypervolume beside that of random searches of the same space, the same
number of trials and the same training seeds (``nas random-search``, ``nas.search.random_search``).

Both are single runs of proxy trainings: one search, and each repeat one random search. Under the null that the
search is no better than random sampling, its hypervolume and the repeats' are exchangeable, so it ranks first
(strictly above every repeat) among ``repeats + 1`` with probability at most 1 / (repeats + 1). That first-place rule
is the test: adding repeats can never turn a loss into a win, so a user may keep adding them. With fewer than 19
repeats it cannot reach 5 %, and the line says so. The test runs only once every repeat is trained: repeats
finished first are not a random subset of them.
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import optuna
import pandas as pd

from nas.core.settings import DEFAULT_ALPHA, SearchSettings
from nas.report import analysis
from nas.study import records
from nas.study.folder import Kind, StudyFolder
from nas.study.storage import load_designed, recorded_sequences

ALPHA = DEFAULT_ALPHA


@dataclass(frozen=True)
class RandomComparison:
    """Hypervolumes after ``trials`` counted trials: the search's and each random repeat's (empty while ``missing``
    runs of the repeats are untrained); ``guided``: how many of the search's trials its sampler chose from the
    trials before (the rest were enqueued uniform placements or the sampler's random start)."""

    cost: str
    trials: int
    search_trials: int  # the search's counted trials now (the comparison stays at ``trials``)
    guided: int
    search_hypervolume: float
    random_hypervolumes: tuple[float, ...]
    repeats: int
    missing: int

    @property
    def above(self) -> int:
        """How many repeats the search's hypervolume exceeds."""
        return sum(self.search_hypervolume > volume for volume in self.random_hypervolumes)

    @property
    def ties(self) -> int:
        return sum(self.search_hypervolume == volume for volume in self.random_hypervolumes)

    @property
    def p_value(self) -> float | None:
        """P(the search ranks at least this high | exchangeable with the repeats), ties counted against it; None
        before every repeat is trained."""
        count = len(self.random_hypervolumes)
        return (count - self.above + 1) / (count + 1) if count and not self.missing else None

    @property
    def beats_random(self) -> bool:
        """The test: first place (above every repeat) with a p-value at most ``ALPHA``."""
        return self.p_value is not None and self.above == len(self.random_hypervolumes) and self.p_value <= ALPHA

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "above": self.above, "ties": self.ties, "p_value": self.p_value, "alpha": ALPHA,
                "test": "first place among the search and its repeats", "beats_random": self.beats_random}  # fmt: skip


def random_start(search: SearchSettings, enqueued: int) -> int:
    """How many first trials of a search its sampler does not choose from the trials before: the enqueued uniform
    placements and the sampler's random start (NSGA-II's first generation, which enqueued trials are not part of;
    TPE's and GP's ``n_startup_trials``, which they count towards; every trial of random sampling)."""
    if search.sampler == "nsga2":
        return enqueued + search.population
    if search.sampler in ("tpe", "gp"):
        sampler = optuna.samplers.TPESampler if search.sampler == "tpe" else optuna.samplers.GPSampler
        return max(enqueued, int(inspect.signature(sampler).parameters["n_startup_trials"].default))
    return search.trials


def _random_curves(
    folder: StudyFolder, cost: str, reference: analysis.Reference
) -> tuple[int, list[np.ndarray], int, int]:
    """The trial count, each repeat's running hypervolume (none while any run is untrained), the repeats and the
    count of runs still untrained; a trial count of 0 without a baseline."""
    study = load_designed(folder, Kind.RANDOM)
    trials, sequences = recorded_sequences(study)
    points: dict[tuple[str, int], analysis.Point] = {}
    for trial in study.get_trials(deepcopy=False) if study else []:
        record = records.record_of(trial)
        if records.counted(trial) and record.genotype is not None and record.seed is not None:
            valued = trial.state == optuna.trial.TrialState.COMPLETE
            points[(record.genotype, record.seed)] = (getattr(record, cost), record.psnr) if valued else None
    missing = len({run for sequence in sequences for run in sequence} - points.keys())
    if missing:
        return trials, [], len(sequences), missing
    curves = [analysis.running_hypervolume([points[run] for run in sequence], reference) for sequence in sequences]
    return trials, curves, len(sequences), 0


def compare(
    folder: StudyFolder, frame: pd.DataFrame, cost: str, reference: analysis.Reference
) -> tuple[RandomComparison, pd.DataFrame | None] | None:
    """The comparison after the baseline's trial count and the repeats' curves (trials, median, low, high: min
    and max over the repeats; None before they are all trained), or None without a baseline."""
    trials, curves, repeats, missing = _random_curves(folder, cost, reference)
    if not trials:
        return None
    points = analysis.counted_points(frame, cost)
    counted = frame[frame["outcome"].isin(records.COUNTED_OUTCOMES)]
    enqueued = int(counted["baseline"].notna().sum())
    guided = max(0, trials - random_start(folder.space().search, enqueued))
    search = analysis.running_hypervolume(points[:trials], reference)
    final = tuple(float(curve[-1]) for curve in curves)
    searched = float(search[-1]) if len(search) else 0.0
    comparison = RandomComparison(cost, trials, len(points), guided, searched, final, repeats, missing)
    if not curves:
        return comparison, None
    stacked = np.vstack(curves)
    band = pd.DataFrame({
        "trials": np.arange(1, trials + 1), "median": np.median(stacked, axis=0),
        "low": stacked.min(axis=0), "high": stacked.max(axis=0),
    })  # fmt: skip
    return comparison, band


def verdict_line(comparison: RandomComparison | None, folder: StudyFolder, unlearned: str | None) -> list[str]:
    """The search against random sampling, in words no stronger than the repeats allow (nothing for a grid)."""
    head = "**Search against random sampling"
    if comparison is None:
        if folder.space().search.sampler == "grid":
            return []
        return [f"{head}:** no baseline yet. `nas random-search {folder.root} --repeats R` trains R random searches "
                "of this space with the search's trial count and training seeds; the hypervolume figure and this "
                "line then compare them."]  # fmt: skip
    if unlearned is not None:
        return [f"{head}:** not drawn: {unlearned}."]
    if comparison.missing:
        return [f"{head}:** {comparison.missing} runs of its {comparison.repeats} random searches are not trained "
                f"yet; run `nas random-search {folder.root}` again (nothing is compared before all are)."]  # fmt: skip
    volumes = comparison.random_hypervolumes
    repeats = len(volumes)
    later = (f"; the search has {comparison.search_trials} now, and is compared at the baseline's count"
             if comparison.search_trials > comparison.trials else "")  # fmt: skip
    unguided = (" (at most random against random: no trial of the search was chosen by its sampler's selection)"
                if not comparison.guided else "")  # fmt: skip
    text = (f"{head} ({comparison.cost}, proxy PSNR, after {comparison.trials} trials{later}):** this search run's "
            f"hypervolume is {comparison.search_hypervolume:.4f}, {comparison.guided} of its trials chosen by its "
            f"sampler from the trials before{unguided}; {repeats} random search{'es' if repeats > 1 else ''} of the "
            f"same space, trials and training seeds reach {_spread(volumes)}. The search is above {comparison.above} "
            f"of {repeats}{f' and ties {comparison.ties}' if comparison.ties else ''}; rank p-value "
            f"{comparison.p_value:.3f}.")  # fmt: skip
    if comparison.beats_random:
        return [text + (f" It ranks first: this search run beats random sampling on this space (first-place rank "
                        f"test, α {ALPHA:g}; one search run, one training seed per trial).")]  # fmt: skip
    if 1 / (repeats + 1) > ALPHA:
        smallest = 1 / (repeats + 1)
        return [text + (f" With {repeats + 1} runs the smallest attainable p-value is {smallest:.3f}, so no test at "
                        f"α {ALPHA:g} is possible: descriptive, not shown to beat random sampling.")]  # fmt: skip
    return [text + f" Not shown to beat random sampling (first-place rank test, α {ALPHA:g})."]


def _spread(volumes: tuple[float, ...]) -> str:
    if len(volumes) == 1:
        return f"{volumes[0]:.4f}"
    return f"median {float(np.median(volumes)):.4f} (range {min(volumes):.4f}–{max(volumes):.4f})"
