"""``nas.core.resumable``: the checks ``nas train`` makes of ``--save``, ``--checkpoint-every`` and ``--resume``
before any training, called as a library caller calls them (``tests/test_train_resume.py`` runs the command)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from nas.core import resumable, training
from nas.core.genotypes import Genotype
from nas.core.settings import DataSources, ProxyBudget
from nas.errors import InputError
from nas.sr import weight_files

GENOTYPE = Genotype.parse("x2.c16.u4:none-pa")
BUDGET = ProxyBudget(iterations=150, batch_size=3, patch_size=12, lr=2e-3)
SOURCES = DataSources()


def resumable_training(save: str | None, every: int | None = None, resume: bool = False, seed: int = 0):
    return resumable.resumable_training(save, every, resume, GENOTYPE, BUDGET, SOURCES, seed, "cpu")


@pytest.mark.parametrize(
    ("save", "words"),
    [
        ("", "--save is empty; give the checkpoint's file path"),
        (".", "--save . is a folder; give a file path inside it, e.g. net.pt"),
        ("missing/net.pt", "--save missing/net.pt: folder missing does not exist; create it first"),
    ],
    ids=["empty", "folder", "no-parent"],
)
def test_a_save_path_that_cannot_be_written_is_refused(tmp_path: Path, monkeypatch, save: str, words: str) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="^" + words.replace(".", r"\.")):
        resumable.check_save_path(save)


def test_a_folder_where_the_state_goes_is_refused(tmp_path: Path) -> None:
    save = tmp_path / "net.pt"
    resumable.resume_path(save).mkdir()
    with pytest.raises(InputError, match="where its resumable state goes, is a folder; move it aside"):
        resumable.check_save_path(str(save))


@pytest.mark.parametrize(("every", "resume", "option"), [(5, False, "--checkpoint-every"), (None, True, "--resume")])
def test_resume_options_need_a_save(every: int | None, resume: bool, option: str) -> None:
    with pytest.raises(InputError, match=f"^{option} is for a training saved with --save FILE .*; add --save$"):
        resumable_training(None, every, resume)


def test_without_save_nothing_is_resumable() -> None:
    assert resumable_training(None) is None


def test_a_saved_training_writes_its_state_beside_the_file_a_tenth_of_the_run_apart(tmp_path: Path) -> None:
    save = tmp_path / "net.pt"
    assert resumable_training(str(save)) == training.Resumable(tmp_path / "net.pt.resume", 15, None)
    assert resumable_training(str(save), every=7).every == 7
    assert resumable.default_state_every(10**6) == resumable.MAX_STATE_GAP


def test_an_earlier_state_is_replaced_with_a_warning_unless_resumed(tmp_path: Path, caplog) -> None:
    save = tmp_path / "net.pt"
    resumable.resume_path(save).write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="nas.core.resumable"):
        assert resumable_training(str(save)).state is None
    assert "holds the state of an earlier run, which this one replaces" in caplog.text


def _state_of(save: Path, identity: dict) -> None:
    state = {"format": training.RESUME_FORMAT, "version": training.RESUME_VERSION, "identity": json.dumps(identity)}
    torch.save({**state, training.RESUME_HASH_KEY: weight_files.structure_hash(state)}, resumable.resume_path(save))


def test_a_state_is_resumed_only_by_its_own_training(tmp_path: Path) -> None:
    save = tmp_path / "net.pt"
    with pytest.raises(InputError, match="does not exist .*; drop --resume to train from the start"):
        resumable_training(str(save), resume=True)
    _state_of(save, training.identity(GENOTYPE, BUDGET, SOURCES, 0, "cpu"))
    assert resumable_training(str(save), resume=True).state["format"] == training.RESUME_FORMAT
    with pytest.raises(InputError, match="is of another training \\(seed is 0 there, 1 here\\)"):
        resumable_training(str(save), resume=True, seed=1)
    resumable.resume_path(save).write_bytes(b"not a state")
    with pytest.raises(InputError, match="cannot be read .*; delete it and drop --resume"):
        resumable_training(str(save), resume=True)
    torch.save({"format": "other"}, resumable.resume_path(save))
    with pytest.raises(InputError, match="is not a resumable state of nas train \\(nas-resume version 2\\)"):
        resumable_training(str(save), resume=True)
