"""The harness never writes through a symbolic link it did not make: a link in a study folder, pointing out of it,
is refused or replaced, and the file it points at is left as it was."""

from __future__ import annotations

from pathlib import Path

import pytest

from nas.files import LinkRefused, open_appending, write_atomically
from nas.search.worker import TrialLog
from nas.study import lock
from nas.study.folder import StudyFolder


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A file outside the study folder that a link in it points at."""
    target = tmp_path / "precious.txt"
    target.write_text("keep me\n")
    return target


def test_a_linked_lock_file_is_refused_and_its_target_kept(tmp_path: Path, outside: Path) -> None:
    folder = StudyFolder(tmp_path / "study")
    folder.root.mkdir()
    folder.lock_file.symlink_to(outside)
    with pytest.raises(LinkRefused, match="search.lock is a symbolic link; the harness never writes through one"):
        with lock.hold(folder):
            pass
    assert outside.read_text() == "keep me\n"


def test_appends_refuse_a_link_and_atomic_writes_replace_it(tmp_path: Path, outside: Path) -> None:
    folder = StudyFolder(tmp_path / "study")
    folder.root.mkdir()
    folder.trials_csv.symlink_to(outside)
    with pytest.raises(LinkRefused, match="trials.csv is a symbolic link"):
        open_appending(folder.trials_csv)
    write_atomically(folder.trials_csv, "number\n")  # the whole file rewritten: the link is replaced
    assert not folder.trials_csv.is_symlink() and folder.trials_csv.read_text() == "number\n"
    assert outside.read_text() == "keep me\n"


def test_a_linked_logs_folder_is_refused(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    folder = StudyFolder(tmp_path / "study")
    folder.root.mkdir()
    folder.logs.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(LinkRefused, match="logs is a symbolic link"):
        TrialLog(folder.trial_log(1))
    assert not list(elsewhere.iterdir())
