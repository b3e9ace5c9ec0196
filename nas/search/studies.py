"""The study folder ``DIR/<space name>/``: everything a search writes, laid out for resuming and reporting.

optuna.journal     the Optuna storage (journal file, safe to read while the search writes it)
study.json         which storage and study name the folder belongs to (``--storage`` may point elsewhere), and how
                   its trainings draw their initial weights (``nas.core.initial_weights.SCHEME``)
space.yaml         the space file as run, for people (a resumed search must be given the same)
space.json         the validated space the study runs: what workers train with and reports read
environment.json   versions, device, CPU/GPU of the machine that drove the search
trials.csv         one row per finished trial, rewritten from the storage at start and end
logs/trial-NNNNN.log   what each trial did (cost, training, result or traceback)
evaluations/       one JSON per trained (genotype, budget, seed): the dedup store, written before reporting
search.lock        held by the one process that trains in the folder (``nas.search.lock``)
tune/              Ray Tune's run folders (its own bookkeeping: the study holds every result)
report/            ``nas report``: report.md, index.html, pareto.csv, figures/, and dashboard/ (what
                   ``nas dashboard`` shows)

Designed runs (``nas confirm``, ``nas experiment``) are studies of their own kind in the same storage, with their
own ``trials-<kind>.csv`` and ``logs/<kind>-trial-NNNNN.log`` (``Kind``).
"""

from __future__ import annotations

import csv
import enum
import io
import json
import os
import platform
import socket
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

import optuna
from optuna.trial import FrozenTrial

from nas.core import initial_weights, spaces
from nas.core.spaces import SearchSpace
from nas.errors import InputError
from nas.search import journal
from nas.search.records import CSV_COLUMNS, Outcome, TrialRecord, csv_row

VERSIONED_PACKAGES = ("torch", "optuna", "ray", "fvcore", "numpy", "pandas")
JOURNAL = "journal"  # the storage URL recorded for the folder's own journal file
# The initial weights of a study whose study.json names no scheme: drawn from torch's global generator in
# construction order, before per-module seeding.
CONSTRUCTION_ORDER = "construction-order"
REPORT_SUFFIXES = (".png", ".json", ".md")  # the files a report writes in figures/ and dashboard/


class StudyError(InputError):
    """A study folder that cannot be used as asked (missing, or run with another space)."""


class Kind(enum.Enum):
    """The studies a folder holds: the search, sampled, and the designed runs, which only train what is enqueued
    (``nas.search.designed``). Each keeps its own Optuna study (in the search's storage), CSV and trial logs."""

    SEARCH = "search"
    CONFIRMATION = "confirmation"
    EXPERIMENT = "experiment"

    @property
    def samples(self) -> bool:
        """Whether a sampler proposes the study's trials."""
        return self is Kind.SEARCH

    @property
    def activity(self) -> str:
        """What a run of this kind is called in messages: "the search", "the confirmation", "the experiment"."""
        return f"the {self.value}"

    def study_name(self, search_name: str) -> str:
        """The Optuna study name of this kind in a folder whose search study is ``search_name``."""
        return search_name if self is Kind.SEARCH else f"{search_name}-{self.value}"

    @property
    def csv_name(self) -> str:
        return "trials.csv" if self is Kind.SEARCH else f"trials-{self.value}.csv"

    def log_name(self, number: int) -> str:
        prefix = "" if self is Kind.SEARCH else f"{self.value}-"
        return f"{prefix}trial-{number:05d}.log"


@dataclass(frozen=True)
class StudyFolder:
    root: Path
    # A study folder is data: reading it imports the plugin files its space names (Python code) only when the user
    # said so (``--trust-plugins``), or gave the space file that names them (``nas search``, ``nas experiment``).
    plugins_trusted: bool = False

    def __post_init__(self) -> None:
        # Absolute, whatever the user typed: Ray's storage needs a URI or an absolute path, and Tune's workers run
        # in their own working directories.
        object.__setattr__(self, "root", Path(self.root).resolve())

    @property
    def journal(self) -> Path:
        return self.root / "optuna.journal"

    @property
    def study_record(self) -> Path:
        return self.root / "study.json"

    @property
    def space_file(self) -> Path:
        return self.root / "space.yaml"

    @property
    def pinned_space(self) -> Path:
        return self.root / "space.json"

    @property
    def environment_file(self) -> Path:
        return self.root / "environment.json"

    @property
    def trials_csv(self) -> Path:
        return self.trials_csv_of(Kind.SEARCH)

    def trials_csv_of(self, kind: Kind) -> Path:
        """The CSV of the folder's study of ``kind``: one row per finished trial."""
        return self.root / kind.csv_name

    @property
    def lock_file(self) -> Path:
        return self.root / "search.lock"

    @property
    def tune_runs(self) -> Path:
        return self.root / "tune"

    @property
    def report(self) -> Path:
        return self.root / "report"

    @property
    def report_markdown(self) -> Path:
        return self.report / "report.md"

    @property
    def report_html(self) -> Path:
        return self.report / "index.html"

    @property
    def pareto_csv(self) -> Path:
        return self.report / "pareto.csv"

    @property
    def experiment_json(self) -> Path:
        """The designed experiment's analysis, as ``nas report`` last wrote it."""
        return self.report / "experiment.json"

    @property
    def figures(self) -> Path:
        return self.report / "figures"

    @property
    def dashboard_files(self) -> Path:
        """What ``nas report`` leaves for ``nas dashboard`` to save into the study: plots (plotly JSON), note."""
        return self.report / "dashboard"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def evaluations(self) -> Path:
        return self.root / "evaluations"

    def check_report_paths(self) -> None:
        """Checks, before a report is made, that every path it writes can take what it writes there.

        Raises:
            StudyError: a folder of the report (``report/``, ``figures/``, ``dashboard/``) is a symbolic link (a write
                would follow it out of the study) or a file, or one of its files (``index.html``, ``report.md``,
                ``pareto.csv``, ``experiment.json``, a figure or a dashboard file) is a folder.
        """
        folders = (self.report, self.figures, self.dashboard_files)
        refuse_links(*folders)
        move_aside = "move it aside (or delete it), then run nas report again"
        for folder in folders:
            if folder.exists() and not folder.is_dir():
                raise StudyError(f"{folder} is a file where the report writes a folder; {move_aside}")
        written = [self.report_markdown, self.report_html, self.pareto_csv, self.experiment_json]
        for folder in folders[1:]:
            written += [p for p in folder.glob("*") if p.suffix in REPORT_SUFFIXES] if folder.is_dir() else []
        for path in written:
            if path.is_dir() and not path.is_symlink():  # a link in a file's place is replaced, never followed
                raise StudyError(f"{path} is a folder where the report writes a file; {move_aside}")

    def trial_log(self, number: int, kind: Kind = Kind.SEARCH) -> Path:
        """The log of trial ``number`` of the folder's study of ``kind``."""
        return self.logs / kind.log_name(number)

    def exists(self) -> bool:
        return self.study_record.is_file()

    def environment_runs(self) -> list[dict[str, Any]]:
        """The records of ``environment.json``, one per search run (empty before the first run)."""
        return json.loads(self.environment_file.read_text()) if self.environment_file.is_file() else []

    def require(self) -> None:
        """Raises:
        StudyError: the folder holds no study."""
        if not self.exists():
            raise StudyError(
                f"{self.root}: no study here (no study.json); run `nas search --space SPACE` first, "
                "or pass the folder it wrote (results/<space name>/)"
            )

    def pin_space(self, space: SearchSpace) -> None:
        """Saves the validated space the study runs with; workers and reports read it, never the YAML again."""
        write_atomically(self.pinned_space, json.dumps(spaces.to_json(space), indent=2) + "\n")

    def space(self) -> SearchSpace:
        """The study's pinned space, its plugins imported where they are trusted.

        Raises:
            StudyError: the folder holds no study, or no readable pinned space, or a space with plugins that are
                not trusted.
        """
        self.require()
        try:
            document = json.loads(self.pinned_space.read_text())
            untrusted = list(document["plugins"]) if not self.plugins_trusted else []
            space = None if untrusted else spaces.from_json(document)
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StudyError(
                f"{self.pinned_space}: cannot read the study's space ({type(error).__name__}: {error}); the study "
                "folder is damaged: start a new one with `nas search --fresh`"
            ) from None
        if space is None:
            raise StudyError(
                f"{self.root}: this study's space names plugin files ({', '.join(untrusted)}), Python code that "
                "reading the study would run; add --trust-plugins if you trust them"
            )
        return space

    def write_record(self, storage_url: str, study_name: str) -> None:
        """Writes ``study.json`` for a new study: its storage, its name and how its trainings draw initial weights."""
        record = {"storage": storage_url, "study_name": study_name, "initial_weights": initial_weights.SCHEME}
        write_atomically(self.study_record, json.dumps(record))

    def initial_weights_scheme(self) -> str | None:
        """How the study's trainings drew their initial weights (``CONSTRUCTION_ORDER`` for a study made before
        ``study.json`` named it); None when ``study.json`` is unreadable (``storage_and_name`` names the damage)."""
        try:
            return json.loads(self.study_record.read_text()).get("initial_weights", CONSTRUCTION_ORDER)
        except (OSError, ValueError, AttributeError):
            return None

    def require_current_initial_weights(self) -> None:
        """Raises:
        StudyError: the study's trainings drew their initial weights under another scheme than new trainings
            do, so new runs could neither reuse nor be paired with them."""
        scheme = self.initial_weights_scheme()
        if scheme is not None and scheme != initial_weights.SCHEME:
            raise StudyError(
                f"{self.root}: this study's trainings drew their initial weights by {scheme!r}, new trainings by "
                f"{initial_weights.SCHEME!r} (per module, from the seed and the module's path), so new runs can "
                f"neither reuse nor be paired with them; read it with `nas report {self.root}`, or start a new "
                "study with `nas search --space SPACE --fresh` (this folder is kept aside)"
            )

    def storage_and_name(self) -> tuple[str, str]:
        """The storage URL (``journal`` for the folder's own file) and study name recorded in ``study.json``.

        Raises:
            StudyError: ``study.json`` is not the record ``nas search`` writes.
        """
        try:
            record = json.loads(self.study_record.read_text())
            url, name = record["storage"], record["study_name"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise StudyError(
                f"{self.study_record}: not a study record ({type(error).__name__}: {error}); it should hold "
                '{"storage": "journal", "study_name": NAME}: restore it, or start a new study with '
                "`nas search --fresh`"
            ) from None
        if not isinstance(url, str) or not isinstance(name, str):
            raise StudyError(f"{self.study_record}: storage and study_name must be strings; restore the file")
        return url, name

    def study_name(self, kind: Kind) -> str:
        """The Optuna study name of the folder's study of ``kind`` (``study.json`` names the search's)."""
        return kind.study_name(self.storage_and_name()[1])


def folder_of(results: Path, space: SearchSpace) -> StudyFolder:
    """The study folder of ``space``, a file the user gave, in ``results``: ``results/<space name>/``.

    Its plugins are trusted: a resumed study's pinned space names those of the same file (the commands check that
    the file is the one the study was created with).
    """
    return StudyFolder(Path(results).resolve() / space.name, plugins_trusted=True)


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


# A study and the storage it was opened on: per-trial writes and the dashboard work on the storage.
StoredStudy = tuple[optuna.Study, optuna.storages.BaseStorage]


def load_stored_study(folder: StudyFolder) -> StoredStudy:
    """The study of an existing folder and the storage it was opened on.

    Raises:
        StudyError: the folder holds no study.
        InputError: the journal holds a line Optuna's reader stops at (``nas.search.journal.check_records``).
    """
    folder.require()
    url, name = folder.storage_and_name()
    if url == JOURNAL and not folder.journal.is_file():
        # Opening the journal would create an empty one and lose the study for good.
        raise StudyError(
            f"{folder.journal}: the study's storage is missing; restore it from a backup (the study's trials are "
            "in it), or start a new study with `nas search --fresh` (the folder is kept aside)"
        )
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
    """The study of an existing folder, for a command that writes its storage.

    A journal whose last record was cut short is repaired first (``nas.search.journal``): an append after a
    partial record would make the whole journal unreadable.

    Raises:
        StudyError: the folder holds no study.
        InputError: the journal is damaged before its last line (``nas.search.journal.check_records``).
    """
    url, _ = folder.storage_and_name() if folder.exists() else (None, None)
    if url == JOURNAL:
        journal.check_records(folder.journal, last_line=False)  # before the repair, which mends the last line only
        journal.repair(folder.journal)
    return load_stored_study(folder)


def load_study(folder: StudyFolder) -> optuna.Study:
    """The study of an existing folder, for reading (reports).

    Raises:
        StudyError: the folder holds no study.
    """
    return load_stored_study(folder)[0]


def _written_beside(path: Path, text: str) -> Path:
    """A temporary file next to ``path`` holding ``text``, to be moved or linked into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    return temporary


def write_atomically(path: Path, text: str) -> None:
    """Writes ``text`` so that readers (and a resumed run after kill -9) never see a partial file; a symbolic link
    in ``path``'s place is replaced, never written through."""
    os.replace(_written_beside(path, text), path)


def refuse_links(*paths: Path) -> None:
    """Raises:
    StudyError: one of ``paths`` is a symbolic link, which a write would follow out of the study folder."""
    for path in paths:
        if path.is_symlink():
            raise StudyError(
                f"{path} is a symbolic link; the harness never writes through one (it could overwrite a file outside "
                "the study): remove the link, or move the study folder aside"
            )


def open_appending(path: Path, read: bool = False) -> TextIO:
    """``path`` opened to append text (and to read, with ``read``), created if missing; a symbolic link in its
    place is refused (``refuse_links``), also one made between the check and the open (``O_NOFOLLOW``)."""
    refuse_links(path)
    flags = (os.O_RDWR if read else os.O_WRONLY) | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW
    return os.fdopen(os.open(path, flags, 0o644), "a+" if read else "a", newline="")


def create_exclusively(path: Path, text: str) -> bool:
    """Creates ``path`` holding ``text`` unless it exists (then False); readers never see it partly written."""
    temporary = _written_beside(path, text)
    try:
        os.link(temporary, path)
        return True
    except FileExistsError:
        return False
    finally:
        temporary.unlink()


def environment(gpus: list[str]) -> dict[str, Any]:
    """Versions and hardware of this process's machine, with the names of its ``gpus``."""
    versions: dict[str, str | None] = {}  # None: not installed
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "host": socket.gethostname(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": gpus,
        "versions": versions,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def mark_interrupted(study: optuna.Study, storage: optuna.storages.BaseStorage, number: int) -> None:
    """Records trial ``number``, left RUNNING by a killed search, as FAIL with outcome ``interrupted``.

    Optuna's public trial API only reaches trials of this process (``Study.tell`` takes the number, but user
    attributes need a live ``Trial``); a stale trial's attributes are set through the storage's public interface.
    """
    trial_id = storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study.study_name), number)
    interrupted = TrialRecord(outcome=Outcome.INTERRUPTED, error="interrupted: the search stopped during this trial")
    for key, value in interrupted.to_user_attrs().items():
        storage.set_trial_user_attr(trial_id, key, value)
    study.tell(number, state=optuna.trial.TrialState.FAIL)


def write_trials_csv(path: Path, study: optuna.Study) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(csv_row(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    write_atomically(path, text.getvalue())


def append_trial_row(path: Path, trial: optuna.trial.FrozenTrial) -> None:
    with open_appending(path) as handle:
        csv.DictWriter(handle, fieldnames=CSV_COLUMNS).writerow(csv_row(trial))
