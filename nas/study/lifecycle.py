"""A study's life: created with its space pinned and its first trials enqueued, reopened to resume (the trials a
killed run left in flight recorded ``interrupted`` and enqueued again), moved aside to start anew.

``searching`` opens the folder's search study under the folder's lock (``nas.study.lock``) for as long as a run
trains into it; ``open_designed`` opens (or creates) a study of designed runs beside it. What runs the trials is
``nas.search``.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import optuna

import blocks
from nas.core import genotypes, pareto
from nas.core.experiment_design import PARENT_LABEL
from nas.core.spaces import SearchSpace
from nas.study import lock
from nas.study.folder import JOURNAL, Kind, StudyFolder
from nas.study.records import Outcome, TrialRecord, record_of
from nas.study.storage import load_for_writing, open_storage
from nas.trained import parents

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class OpenStudy:
    """A folder's study of ``kind``, the storage it was opened on and the space it runs (pinned when the folder
    was created; designed runs may train it at another budget)."""

    folder: StudyFolder
    kind: Kind
    space: SearchSpace
    study: optuna.Study
    storage: optuna.storages.BaseStorage

    @property
    def csv(self) -> Path:
        """Where its finished trials are written, one row each."""
        return self.folder.trials_csv_of(self.kind)


def timestamp() -> str:
    """The local time, compact and sortable: names of shared-database studies, moved folders and Tune runs."""
    return time.strftime("%Y%m%dT%H%M%S")


def directions(objectives: tuple[str, ...]) -> list[Literal["minimize", "maximize"]]:
    """The Optuna study directions of ``objectives``."""
    return ["maximize" if up else "minimize" for up in pareto.maximized(objectives)]


def baseline_genotypes(search_space: SearchSpace) -> list[tuple[str, genotypes.Genotype]]:
    """The uniform placements: all ``none``, then all X for every block X of the space (distinct ones); in a space
    with ``proxy.init``, the parent's genotype too (``parent``, unless it is one of them): the reference every
    candidate inherits from, fine-tuned the same way."""
    names = [blocks.NO_ATTENTION, *[b for b in search_space.all_blocks() if b != blocks.NO_ATTENTION]]
    placements: dict[genotypes.Genotype, str] = {}
    parent = parents.genotype_of(search_space)
    for block in names:
        if block == blocks.NO_ATTENTION and blocks.NO_ATTENTION not in search_space.all_blocks():
            continue
        placements.setdefault(genotypes.uniform(search_space, block), f"{genotypes.UNIFORM_PREFIX}{block}")
    if parent is not None:
        placements.setdefault(parent, PARENT_LABEL)  # labelled as the experiment's reference arm
    return [(label, arch) for arch, label in placements.items()]


def baseline_runs(search_space: SearchSpace) -> list[tuple[str, genotypes.Genotype, int]]:
    """The trials a search starts with, in order: every uniform placement (``baseline_genotypes``) with every proxy
    seed, as (label, genotype, seed)."""
    return [
        (label, arch, seed) for label, arch in baseline_genotypes(search_space) for seed in search_space.proxy.seeds
    ]


def grid_params(search_space: SearchSpace) -> list[dict[str, str]]:
    """Every combination of the per-depth choices, in order: what a grid search enqueues."""
    keys = [genotypes.depth_key(depth) for depth in range(search_space.depth)]
    choices = [search_space.choices_at(depth) for depth in range(search_space.depth)]
    return [dict(zip(keys, combination, strict=True)) for combination in itertools.product(*choices)]


def _created(storage: optuna.storages.BaseStorage, name: str, space: SearchSpace) -> optuna.Study:
    """A new study in ``storage`` over the space's objectives, their names shown by the dashboard."""
    created = optuna.create_study(storage=storage, study_name=name, directions=directions(space.objectives))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        created.set_metric_names(list(space.objectives))
    return created


def _create(folder: StudyFolder, search_space: SearchSpace, space_path: Path, storage_url: str) -> OpenStudy:
    """A new search study: the space pinned, the uniform placements enqueued with every proxy seed (and a grid's
    combinations with the first), ``study.json`` written last."""
    # A database URL is opened first: one that cannot be opened leaves nothing behind.
    database = None if storage_url == JOURNAL else open_storage(folder, storage_url)
    folder.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(space_path, folder.space_file)
    folder.pin_space(search_space)
    # The folder's own journal holds one study; a shared database gets a unique name per study.
    name = search_space.name if storage_url == JOURNAL else f"{search_space.name}-{timestamp()}"
    storage = database or open_storage(folder, storage_url)
    created = _created(storage, name, search_space)
    for label, arch, seed in baseline_runs(search_space):
        created.enqueue_trial(
            genotypes.to_params(arch), user_attrs=TrialRecord(seed=seed, baseline=label).to_user_attrs()
        )
    if search_space.search.sampler == "grid":
        first_seed = TrialRecord(seed=search_space.proxy.seeds[0]).to_user_attrs()
        for params in grid_params(search_space):
            created.enqueue_trial(params, user_attrs=first_seed)
    folder.write_record(storage_url, name)
    return OpenStudy(folder, Kind.SEARCH, search_space, created, storage)


def _reopen(folder: StudyFolder, space_path: Path, storage_url: str | None) -> OpenStudy:
    folder.require_resumable(space_path, storage_url)
    reopened, storage = load_for_writing(folder)
    requeue_interrupted(reopened, storage)
    return OpenStudy(folder, Kind.SEARCH, folder.space(), reopened, storage)


def requeue_interrupted(reopened: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Trials a killed run left RUNNING: recorded FAIL (``interrupted``) and enqueued to run again.

    Optuna's public trial API only reaches trials of this process (``Study.tell`` takes the number, but user
    attributes need a live ``Trial``); a stale trial's attributes are set through the storage's public interface.
    """
    study_id = storage.get_study_id_from_name(reopened.study_name)
    interrupted = TrialRecord(outcome=Outcome.INTERRUPTED, error="interrupted: the search stopped during this trial")
    for stale in reopened.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, stale.number)
        for key, value in interrupted.to_user_attrs().items():
            storage.set_trial_user_attr(trial_id, key, value)
        reopened.tell(stale.number, state=optuna.trial.TrialState.FAIL)
        again = replace(record_of(stale), rerun_of=stale.number)
        reopened.enqueue_trial(stale.params, user_attrs=again.to_user_attrs())


def move_aside(folder: StudyFolder) -> None:
    """Renames an existing study folder to ``<name>.<time>``, so a new study starts in its place."""
    if folder.root.exists():
        kept = folder.root.with_name(f"{folder.root.name}.{timestamp()}")
        folder.root.rename(kept)
        logger.info("the previous study was moved to %s", kept)


def open_study(folder: StudyFolder, search_space: SearchSpace, space_path: Path, storage_url: str | None) -> OpenStudy:
    """The folder's search study: resumed with its pinned space, or created with ``search_space`` (the space file
    ``space_path``) pinned and its baselines enqueued, in the folder's journal unless ``storage_url`` names a
    database.

    Raises:
        StudyError: the study cannot be resumed as asked (``StudyFolder.require_resumable``), or its storage read.
    """
    if folder.exists():
        return _reopen(folder, space_path, storage_url)
    return _create(folder, search_space, space_path, storage_url or JOURNAL)


@contextmanager
def searching(
    folder: StudyFolder, search_space: SearchSpace, space_path: Path, storage_url: str | None, fresh: bool
) -> Iterator[OpenStudy]:
    """The folder's search study (``open_study``), held under the folder's lock until the block ends; ``fresh``
    moves an existing folder aside first (under the lock: a folder another search is using is never moved). A
    folder made here is removed again when the study cannot be opened: no half-made study folder is left behind.

    Raises:
        StudyBusy: another live process is searching the folder.
        StudyError: as ``open_study``.
    """
    if fresh and folder.root.exists():
        with lock.hold(folder):
            move_aside(folder)
    made_here = not folder.root.exists()
    with lock.hold(folder):
        try:
            opened = open_study(folder, search_space, space_path, storage_url)
        except BaseException:
            if made_here:
                shutil.rmtree(folder.root, ignore_errors=True)
            raise
        yield opened


def open_designed(folder: StudyFolder, kind: Kind, space: SearchSpace) -> OpenStudy:
    """The folder's study of ``kind`` runs (created on first use), with trials a killed run left re-enqueued.

    Raises:
        StudyError: the folder holds no study.
    """
    folder.require_current_initial_weights()
    _, storage = load_for_writing(folder)
    name = folder.study_name(kind)
    if name in optuna.get_all_study_names(storage):  # reopened as it is: a finished study's journal stays unchanged
        designed = optuna.load_study(study_name=name, storage=storage)
    else:
        designed = _created(storage, name, space)
    requeue_interrupted(designed, storage)
    return OpenStudy(folder, kind, space, designed, storage)
