"""A study folder's Optuna storage: opened, checked and loaded, for reading (reports) or for writing (runs).

The folder's own journal file (``optuna.journal``) or a database named in ``study.json`` holds the folder's studies:
the search's, and one per kind of designed runs (``Kind``). A journal is checked before Optuna reads it
(``nas.study.journal``), and repaired before a command appends to it.
"""

from __future__ import annotations

import optuna
from optuna.trial import FrozenTrial

from nas.study import journal
from nas.study.folder import JOURNAL, Kind, StudyError, StudyFolder

# A study and the storage it was opened on: per-trial writes and the dashboard work on the storage.
StoredStudy = tuple[optuna.Study, optuna.storages.BaseStorage]


def open_storage(folder: StudyFolder, url: str) -> optuna.storages.BaseStorage:
    """The folder's journal file, or the Optuna storage at ``url`` (``sqlite:///``, ``postgresql://``...).

    Raises:
        StudyError: ``url`` names no database Optuna can open.
    """
    if url == JOURNAL:
        backend = optuna.storages.journal.JournalFileBackend(str(folder.journal))
        return optuna.storages.JournalStorage(backend)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as error:  # noqa: BLE001 - SQLAlchemy's errors for a bad URL, driver or server vary
        raise StudyError(
            f"--storage {url}: Optuna cannot open it ({type(error).__name__}: {str(error).splitlines()[0]}); give an "
            "SQLAlchemy URL such as sqlite:///studies.db or postgresql://user@host/db, or leave --storage out"
        ) from None


def load_stored_study(folder: StudyFolder, for_writing: bool = False) -> StoredStudy:
    """The study of an existing folder and the storage it was opened on.

    ``for_writing``: for a command that writes the storage; a journal whose last record was cut short is repaired
    first (``nas.study.journal.repair``): an append after a partial record would make the whole journal unreadable.

    Raises:
        StudyError: the folder holds no study.
        InputError: the journal holds a line Optuna's reader stops at (``nas.study.journal.check_records``).
    """
    folder.require()
    url, name = folder.storage_and_name()
    if url == JOURNAL and not folder.journal.is_file():
        # Opening the journal would create an empty one and lose the study for good.
        raise StudyError(
            f"{folder.journal}: the study's storage is missing; restore it from a backup (the study's trials are "
            "in it), or start a new study with `nas search --fresh` (the folder is kept aside)"
        )
    if url == JOURNAL and for_writing:
        journal.check_records(folder.journal, last_line=False)  # before the repair, which mends the last line only
        journal.repair(folder.journal)
    if url == JOURNAL:
        journal.check_records(folder.journal)  # Optuna's reader would stop at a damaged line with a traceback
    storage = open_storage(folder, url)
    try:
        return optuna.load_study(study_name=name, storage=storage), storage
    except KeyError:
        raise StudyError(
            f"{folder.root}: the storage {url!r} holds no study {name!r}; restore the storage, or start a new "
            "study with `nas search --fresh`"
        ) from None


def load_for_writing(folder: StudyFolder) -> StoredStudy:
    """The study of an existing folder, for a command that writes its storage (``load_stored_study``).

    Raises:
        StudyError: the folder holds no study.
        InputError: the journal is damaged before its last line (``nas.study.journal.check_records``).
    """
    return load_stored_study(folder, for_writing=True)


def load_study(folder: StudyFolder) -> optuna.Study:
    """The study of an existing folder, for reading (reports).

    Raises:
        StudyError: the folder holds no study.
    """
    return load_stored_study(folder)[0]


def load_designed(folder: StudyFolder, kind: Kind) -> optuna.Study | None:
    """The folder's study of designed runs of ``kind``, or None when there is none."""
    _, storage = load_stored_study(folder)
    try:
        return optuna.load_study(study_name=folder.study_name(kind), storage=storage)
    except KeyError:
        return None


def completed_designed(folder: StudyFolder, kind: Kind) -> tuple[optuna.Study | None, list[FrozenTrial]]:
    """The folder's study of designed runs of ``kind`` (None when there is none) and its complete trials."""
    study = load_designed(folder, kind)
    trials = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)) if study else []
    return study, trials


# The random-search baseline's plan, one user attribute of its study: {"trials": T, "sequences": [[[genotype, seed],
# ...] per repeat]} (``nas.search.random_search``), set in one write so that an interrupted first call leaves all or
# nothing of it.
RANDOM_SEARCH_PLAN = "random_search"
Sequences = tuple[tuple[tuple[str, int], ...], ...]


def recorded_sequences(study: optuna.Study | None) -> tuple[int, Sequences]:
    """The trial count and the repeats' sequences of (genotype id, seed) a random-search baseline study records;
    (0, ()) without one."""
    plan = study.user_attrs.get(RANDOM_SEARCH_PLAN) if study is not None else None
    if plan is None:
        return 0, ()
    sequences = tuple(tuple((str(g), int(s)) for g, s in sequence) for sequence in plan["sequences"])
    return int(plan["trials"]), sequences
