"""Designed runs: genotypes and seeds chosen on purpose, not by a sampler, trained as a study of their own.

A designed experiment's arms and a confirmation of a search's front are lists of ``DesignedRun``: a genotype id,
a seed and what the run stands for (its arm). They are trained by the search's own machinery (Ray Tune workers,
the evaluation store's dedup, fault recording, resume after kill -9, the progress line) as the trials of a second
Optuna study, ``<study>-<kind>``, in the same storage as the search, so they never enter the search's sampler.
Runs are enqueued once, in a seeded random order (so arm and time of training are not confounded); running the
same command again trains only what is missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TextIO

import optuna

from nas.core.spaces import SearchSpace
from nas.search import preflight
from nas.search.progress import Progress
from nas.search.run import RunSummary, run_trials, summarise
from nas.search.worker import Trainer
from nas.study import lock
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.lifecycle import OpenStudy, open_designed
from nas.study.records import TrialRecord, counted, record_of, write_trials_csv


@dataclass(frozen=True)
class DesignedRun:
    genotype: str  # canonical genotype id
    seed: int
    arm: str  # what the run stands for, e.g. ``a2b only 0-3`` or ``confirm front``


class DesignedPlan(Protocol):
    """What a command of designed runs trains: its runs, the space they train with, what its study records."""

    @property
    def space(self) -> SearchSpace: ...

    @property
    def runs(self) -> tuple[DesignedRun, ...]: ...

    @property
    def attributes(self) -> Mapping[str, Any]:
        """Recorded on the designed study, so a resumed run plans the same way."""
        ...

    def describe(self) -> str:
        """One line on what is trained, for the command's summary."""
        ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class DesignedResult:
    """A run of designed runs: what was planned and what the study holds now."""

    plan: DesignedPlan
    summary: RunSummary

    @property
    def interrupted(self) -> bool:
        return self.summary.interrupted

    @property
    def kind(self) -> Kind:
        return self.summary.kind

    def to_text(self) -> str:
        text = f"{self.plan.describe()}: {self.summary.counts_text()}"
        return text if self.interrupted else f"{text}\nreport: nas report {self.summary.folder.root}"

    def to_json(self) -> dict[str, Any]:
        return {**self.plan.to_json(), **self.summary.to_json()}


def held_runs(study: optuna.Study) -> set[DesignedRun]:
    """The runs a designed study holds: finished (and counted), waiting or running.

    Raises:
        StudyError: a trial the study holds names no genotype, seed or arm (``enqueue_missing`` gives every trial
            all three: the study was not made by this harness).
    """
    held = set()
    for trial in study.get_trials(deepcopy=False):
        record = record_of(trial)
        if not trial.state.is_finished() or counted(trial):
            if record.genotype is None or record.seed is None or record.arm is None:
                raise StudyError(
                    f"study {study.study_name!r}: trial {trial.number} names no genotype, seed or arm; it is not a "
                    "designed run of this harness"
                )
            held.add(DesignedRun(record.genotype, record.seed, record.arm))
    return held


def enqueue_missing(study: optuna.Study, runs: Sequence[DesignedRun], order_seed: int) -> int:
    """Enqueues the runs the study does not hold yet (finished, waiting or running), in a seeded random order.

    Returns:
        How many runs the study holds now that count towards its total.
    """
    held = held_runs(study)
    missing = [run for run in runs if run not in held]
    random.Random(order_seed).shuffle(missing)
    for run in missing:
        planned = TrialRecord(genotype=run.genotype, seed=run.seed, arm=run.arm)
        study.enqueue_trial({}, user_attrs=planned.to_user_attrs())
    return len(held) + len(missing)


def train_designed(
    folder: StudyFolder,
    kind: Kind,
    plan: Callable[[], DesignedPlan],
    address: str | None,
    trainer: Trainer,
    stream: TextIO,
) -> DesignedResult:
    """Plans (``plan`` reads the study under the folder's lock, so no other run changes it meanwhile), then trains
    every planned run the folder's study of ``kind`` (created on first use) does not hold yet.

    Raises:
        StudyError: as ``plan`` and ``open_designed``; or another process is running on the study folder.
        InputError: no Ray cluster answers at ``address``.
    """
    preflight.check_cluster(address)
    with lock.hold(folder):
        planned = plan()
        opened = open_designed(folder, kind, planned.space)
        for key, value in planned.attributes.items():
            opened.study.set_user_attr(key, value)
        return DesignedResult(planned, _train_runs(opened, planned.runs, address, trainer, stream))


def _train_runs(
    opened: OpenStudy, runs: Sequence[DesignedRun], address: str | None, trainer: Trainer, stream: TextIO
) -> RunSummary:
    """Trains every designed run the ``opened`` study does not hold yet, with its space's budget and data.

    The caller holds the study folder's lock (``nas.study.lock.hold``), as a search does.
    """
    space = opened.space
    total = enqueue_missing(opened.study, runs, space.search.seed)
    write_trials_csv(opened.csv, opened.study)
    progress = Progress(opened.study.get_trials(deepcopy=False), space.objectives, total, stream)
    if total > progress.finished:
        run_trials(opened, total - progress.finished, progress, address, trainer)
    write_trials_csv(opened.csv, opened.study)
    return summarise(opened, progress, total)
