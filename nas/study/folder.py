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
search.lock        held by the one process that trains in the folder (``nas.study.lock``)
tune/              Ray Tune's run folders (its own bookkeeping: the study holds every result)
report/            ``nas report``: report.md, index.html, pareto.csv, figures/, and dashboard/ (what
                   ``nas dashboard`` shows)

Designed runs (``nas confirm``, ``nas experiment``) are studies of their own kind in the same storage, with their
own ``trials-<kind>.csv`` and ``logs/<kind>-trial-NNNNN.log`` (``Kind``).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas import paths
from nas.core import initial_weights, pinned_spaces, spaces
from nas.core.spaces import SearchSpace
from nas.errors import InputError
from nas.files import refuse_links, write_atomically

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
    RANDOM = "random"  # the random-search baseline of the search (``nas random-search``)

    @property
    def samples(self) -> bool:
        """Whether a sampler proposes the study's trials."""
        return self is Kind.SEARCH

    @property
    def activity(self) -> str:
        """What a run of this kind is called in messages: "the search", "the confirmation", "the experiment", "the
        random search"."""
        return "the random search" if self is Kind.RANDOM else f"the {self.value}"

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
        given = paths.not_empty(self.root, "the study folder", "results/sr_tiny")
        object.__setattr__(self, "root", paths.resolved(given, "study folder"))

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
            LinkRefused: a folder of the report (``report/``, ``figures/``, ``dashboard/``) is a symbolic link (a
                write would follow it out of the study).
            StudyError: one of those folders is a file, or one of its files (``index.html``, ``report.md``,
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

    def require_space_file(self, space_path: Path) -> None:
        """Raises:
        StudyError: ``space_path`` is not the file the study was created with."""
        if self.space_file.read_bytes() != space_path.read_bytes():
            raise StudyError(
                f"{space_path}: differs from the space this study ran with ({self.space_file}), which is pinned: an "
                "edited file (an experiment: section added, too) needs a study of its own; pass another --results "
                f"folder, or start anew with `nas search --space {space_path} --fresh` (the old folder is kept)"
            )

    def environment_runs(self) -> list[dict[str, Any]]:
        """The records of ``environment.json``, one per search run (empty before the first run)."""
        return json.loads(self.environment_file.read_text()) if self.environment_file.is_file() else []

    def add_environment_run(self, run: dict[str, Any]) -> None:
        """Appends the record of one run (time, trials asked, cluster, machine) to ``environment.json``."""
        write_atomically(self.environment_file, json.dumps([*self.environment_runs(), run], indent=2) + "\n")

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
        write_atomically(self.pinned_space, json.dumps(pinned_spaces.to_json(space), indent=2) + "\n")

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
            space = None if untrusted else pinned_spaces.from_json(document)
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

    def require_resumable(self, space_path: Path, storage_url: str | None) -> None:
        """Raises:
        StudyError: the study cannot be resumed as asked: with another storage than ``study.json`` names (None:
            the recorded one), another space file than it was created with, or trainings drawing their initial
            weights under another scheme."""
        recorded_url, _ = self.storage_and_name()
        if storage_url is not None and storage_url != recorded_url:
            raise StudyError(
                f"{self.root}: this study is stored in {recorded_url!r}, not {storage_url!r}; drop --storage to "
                "resume it, or add --fresh to start a new study"
            )
        self.require_space_file(space_path)
        self.require_current_initial_weights()

    def study_name(self, kind: Kind) -> str:
        """The Optuna study name of the folder's study of ``kind`` (``study.json`` names the search's)."""
        return kind.study_name(self.storage_and_name()[1])


def folder_of(results: Path, space: SearchSpace) -> StudyFolder:
    """The study folder of ``space``, a file the user gave, in ``results``: ``results/<space name>/``.

    Its plugins are trusted: a resumed study's pinned space names those of the same file (the commands check that
    the file is the one the study was created with).
    """
    return StudyFolder(paths.resolved(results, "--results") / space.name, plugins_trusted=True)


def written_from(space_file: Path) -> Path:
    """The folder the relative paths of a space file are read from: its own, or, for the copy a study folder keeps
    of the file its study ran with, that file's folder (the pinned space records it as its source), so that a study
    folder, wherever it lies, re-trains with the files its study named."""
    folder = StudyFolder(space_file.parent)
    if space_file.name != folder.space_file.name or not folder.pinned_space.is_file():
        return space_file.parent
    try:
        source = Path(json.loads(folder.pinned_space.read_text())["source"])
    except (OSError, ValueError, KeyError, TypeError):  # not a study's pin: the file stands for itself
        return space_file.parent
    return (source if source.is_absolute() else spaces.REPOSITORY / source).parent
