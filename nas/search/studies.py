"""The study folder ``DIR/<space name>/``: everything a search writes, laid out for resuming and reporting.

optuna.journal     the Optuna storage (journal file, safe to read while the search writes it)
study.json         which storage and study name the folder belongs to (``--storage`` may point elsewhere)
space.yaml         the space file as run (a resumed search must use the same)
environment.json   versions, device, CPU/GPU of the machine that drove the search
trials.csv         one row per finished trial, rewritten from the storage at start and end
logs/trial-NNNNN.log   what each trial did (cost, training, result or traceback)
evaluations/       one JSON per trained (genotype, budget, seed): the dedup store, written before reporting
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import platform
import socket
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import optuna
import torch

from nas.core.spaces import SearchSpace
from nas.errors import InputError

TRIAL_COLUMNS = (
    "number", "state", "outcome", "genotype", "psnr", "ssim", "macs", "params", "latency_ms", "seed",
    "duplicate_of", "error", "train_seconds",
)  # fmt: skip
# Outcomes of a finished trial, stored as its ``outcome`` user attribute.
TRAINED, DUPLICATE, INFEASIBLE, FAILED, INTERRUPTED = "trained", "duplicate", "infeasible", "failed", "interrupted"
VERSIONED_PACKAGES = ("torch", "optuna", "ray", "fvcore", "numpy", "pandas")
JOURNAL = "journal"  # the storage URL recorded for the folder's own journal file


class StudyError(InputError):
    """A study folder that cannot be used as asked (missing, or run with another space)."""


@dataclass(frozen=True)
class StudyFolder:
    root: Path

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
    def environment_file(self) -> Path:
        return self.root / "environment.json"

    @property
    def trials_csv(self) -> Path:
        return self.root / "trials.csv"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def evaluations(self) -> Path:
        return self.root / "evaluations"

    def trial_log(self, number: int) -> Path:
        return self.logs / f"trial-{number:05d}.log"

    def exists(self) -> bool:
        return self.study_record.is_file()

    def environment_runs(self) -> list[dict[str, Any]]:
        """The records of ``environment.json``, one per search run (empty before the first run)."""
        return json.loads(self.environment_file.read_text()) if self.environment_file.is_file() else []

    def storage_and_name(self) -> tuple[str, str]:
        """The storage URL (``journal`` for the folder's own file) and study name recorded in ``study.json``."""
        record = json.loads(self.study_record.read_text())
        return record["storage"], record["study_name"]


def open_storage(folder: StudyFolder, url: str) -> optuna.storages.BaseStorage:
    """The folder's journal file, or the Optuna storage at ``url`` (``sqlite:///``, ``postgresql://``...)."""
    if url == JOURNAL:
        backend = optuna.storages.journal.JournalFileBackend(str(folder.journal))
        return optuna.storages.JournalStorage(backend)
    return optuna.storages.RDBStorage(url)


# A study and the storage it was opened on: per-trial writes and the dashboard work on the storage.
StoredStudy = tuple[optuna.Study, optuna.storages.BaseStorage]


def load_stored_study(folder: StudyFolder) -> StoredStudy:
    """The study of an existing folder and the storage it was opened on.

    Raises:
        StudyError: the folder holds no study.
    """
    if not folder.exists():
        raise StudyError(
            f"{folder.root}: no study here (no study.json); run `nas search --space SPACE` first, "
            "or pass the folder it wrote (results/<space name>/)"
        )
    url, name = folder.storage_and_name()
    storage = open_storage(folder, url)
    return optuna.load_study(study_name=name, storage=storage), storage


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
    """Writes ``text`` so that readers (and a resumed run after kill -9) never see a partial file."""
    os.replace(_written_beside(path, text), path)


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


def environment() -> dict[str, Any]:
    """Versions and hardware of this process's machine."""
    versions = {}
    for package in VERSIONED_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
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


def evaluation_key(space: SearchSpace, genotype_id: str, seed: int) -> str:
    """What makes two trainings the same: architecture, proxy budget, data and seed."""
    budget = space.proxy
    identity = [
        genotype_id, seed, budget.iterations, budget.batch_size, budget.patch_size, budget.lr,
        space.data.train, space.data.val,
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(identity).encode()).hexdigest()[:24]


def trial_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """A trials.csv row of a trial in the storage."""
    attrs = trial.user_attrs
    row = {column: attrs.get(column) for column in TRIAL_COLUMNS}
    row["number"] = trial.number
    row["state"] = trial.state.name
    return row


def write_trials_csv(folder: StudyFolder, study: optuna.Study) -> None:
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=TRIAL_COLUMNS)
    writer.writeheader()
    writer.writerows(trial_row(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    write_atomically(folder.trials_csv, text.getvalue())


def append_trial_row(folder: StudyFolder, trial: optuna.trial.FrozenTrial) -> None:
    with folder.trials_csv.open("a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=TRIAL_COLUMNS).writerow(trial_row(trial))
