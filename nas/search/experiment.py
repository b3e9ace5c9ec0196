"""``nas experiment``: the space's designed experiment, every arm trained with every seed, as designed runs.

The arms come from the space's ``experiment:`` section (``nas.core.experiment.design_arms``); they are trained in a
seeded random order as a study of their own in the space's study folder (``nas.search.designed``), with the search's
dedup (an arm already trained with that seed and budget is reused), fault recording, resume after kill -9 and
progress line. ``plan`` says, before anything is trained, what the experiment will run and how long it will take.
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import torch

from nas.core import experiment, networks, spaces, training
from nas.core.genotypes import Genotype
from nas.core.spaces import SearchSpace, SpaceError
from nas.search import designed, lock, preflight, run, studies
from nas.search.designed import DesignedRun
from nas.search.records import Outcome, record_of
from nas.search.run import RunSettings, SearchSummary
from nas.search.studies import StudyError, StudyFolder
from nas.search.worker import Trainer

KIND = studies.EXPERIMENT
TIMED_ITERATIONS = 10  # iterations timed (after WARMUP_ITERATIONS) when the study has no recorded training time
WARMUP_ITERATIONS = 5  # the first iterations pay for allocation and kernel selection


@dataclass(frozen=True)
class ExperimentRuns:
    folder: StudyFolder
    space: SearchSpace  # the study's pinned space, with its experiment section
    design: experiment.ExperimentDesign
    runs: tuple[DesignedRun, ...]

    @property
    def arms(self) -> tuple[experiment.Arm, ...]:
        return self.design.arms


def _given(space_path: Path) -> SearchSpace:
    given = spaces.load(space_path)
    if given.experiment is None:
        raise SpaceError(
            f"{space_path}: no experiment: section; add one (blocks, groups, seeds, margin_db, control: see "
            "search_spaces/README.md) to say which arms to train"
        )
    return given


def _with_runs(folder: StudyFolder, space: SearchSpace) -> ExperimentRuns:
    settings = space.experiment
    if settings is None:  # the given file has one (``_given``), and the pinned space is that file's
        raise StudyError(
            f"{folder.pinned_space}: the study's pinned space has no experiment: section; pass another --results "
            "folder, or move this study folder aside"
        )
    design = experiment.make_design(
        space, settings.blocks, settings.groups, settings.seeds, settings.margin_db, settings.control
    )
    runs = tuple(DesignedRun(arm.genotype, seed, arm.label) for arm in design.arms for seed in design.seeds)
    return ExperimentRuns(folder, space, design, runs)


def prepare(space_path: str | Path, settings: RunSettings) -> ExperimentRuns:
    """The experiment's runs, as its study folder will train them; nothing is written (``--plan``).

    Raises:
        SpaceError: the file has no ``experiment:`` section, or is invalid.
        StudyError: the study folder was created with another space file.
    """
    space_path = Path(space_path).resolve()
    given = _given(space_path)
    folder = StudyFolder(Path(settings.results).resolve() / given.name)
    if not folder.exists():
        return _with_runs(folder, given)
    run.check_same_file(folder, space_path)
    return _with_runs(folder, folder.space())


def run_experiment(
    space_path: str | Path, settings: RunSettings, trainer: Trainer = training.train, stream: TextIO = sys.stderr
) -> tuple[ExperimentRuns, SearchSummary]:
    """Trains every run of the space's experiment that its study folder (created if needed) does not hold yet.

    Raises:
        SpaceError, StudyError: as ``prepare``; or another process is running on the study folder.
    """
    space_path = Path(space_path).resolve()
    given = _given(space_path)
    folder = StudyFolder(Path(settings.results).resolve() / given.name)
    preflight.check_results(folder.root.parent, folder.root)
    preflight.check_cluster(settings.address)
    with lock.hold(folder):
        prepared = _with_runs(folder, run.open_study(folder, given, space_path, settings.storage, False).space)
        opened = designed.open_designed(folder, KIND, prepared.space)
        summary = designed.run_designed(folder, opened, prepared.runs, settings.address, trainer, stream)
    return prepared, summary


def runs_left(prepared: ExperimentRuns) -> list[DesignedRun]:
    """The experiment's runs its study does not hold yet (all of them before its first run)."""
    study = studies.load_designed(prepared.folder, KIND) if prepared.folder.exists() else None
    held = designed.held_runs(study) if study is not None else set()
    return [run for run in prepared.runs if run not in held]


@dataclass(frozen=True)
class TimeEstimate:
    seconds: float  # wall time of the runs still to train
    per_run_seconds: float
    parallel: int  # runs trained at once
    source: str  # how the per-run time was obtained


def estimate_time(prepared: ExperimentRuns, remaining: int) -> TimeEstimate:
    """Wall time of ``remaining`` runs: from the study's recorded training times, or from timed iterations."""
    recorded = _recorded_seconds(prepared.folder)
    if recorded:
        per_run = statistics.median(recorded)
        source = f"median training time of the study's {len(recorded)} trained trials"
    else:
        per_run, source = _timed_run_seconds(prepared)
    machine = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    _, parallel = run.trial_resources(prepared.space, machine)
    return TimeEstimate(per_run * math.ceil(remaining / parallel), per_run, parallel, source)


def _recorded_seconds(folder: StudyFolder) -> list[float]:
    """Trial seconds of every trained trial of the folder (search and experiment) with this budget."""
    seconds = []
    if not folder.exists():
        return []
    for study in (studies.load_study(folder), studies.load_designed(folder, KIND)):
        for trial in study.get_trials(deepcopy=False) if study is not None else []:
            record = record_of(trial)
            if record.outcome is Outcome.TRAINED and record.trial_seconds:
                seconds.append(record.trial_seconds)
    return seconds


def _timed_run_seconds(prepared: ExperimentRuns) -> tuple[float, str]:
    """Seconds of one run of the arm with the most parameters, from a few timed iterations (evaluation excluded)."""
    arch = max((Genotype.parse(arm.genotype) for arm in prepared.arms), key=_parameters)
    budget = prepared.space.proxy
    device = training.default_device()
    step = training.ProxyStep(
        training.build_network(arch, 0, device), arch, prepared.space.data.train, 0, device, budget
    )
    for _ in range(WARMUP_ITERATIONS):
        step()
    started = time.perf_counter()
    for _ in range(TIMED_ITERATIONS):
        step()
    per_iteration = (time.perf_counter() - started) / TIMED_ITERATIONS
    source = f"{TIMED_ITERATIONS} timed iterations of `{arch}` on {device} × {budget.iterations} (evaluation excluded)"
    return per_iteration * budget.iterations, source


def _parameters(arch: Genotype) -> int:
    return sum(p.numel() for p in networks.build(arch).parameters())
