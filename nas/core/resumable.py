"""A training saved to a file and resumable: where its state lies, how often it is written, the state read back and
checked against the training that continues it, and the checks of ``nas train``'s ``--save``, ``--checkpoint-every``
and ``--resume`` made before any training.

The trainer (``nas.core.training``) writes the state and continues from one it is given (``training.Resumable``);
this module says where and how often, and reads it: ``resumable_training`` is all a caller needs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import torch

from nas import files
from nas.core import training
from nas.core.genotypes import Genotype
from nas.core.settings import DataSources, ProxyBudget
from nas.errors import InputError
from nas.sr import weight_files

logger = logging.getLogger(__name__)

RESUME_SUFFIX = ".resume"  # the resumable state of ``nas train --save FILE`` is FILE.resume
STATES_PER_RUN = 10  # by default a resumable state every tenth of a run...
MAX_STATE_GAP = 1000  # ...and at least every 1000 iterations: a kill loses minutes of a long run, not hours


def resume_path(save: str | Path) -> Path:
    """Where the run that will be saved as ``save`` keeps its resumable state: beside it, ``save`` + ``.resume``."""
    return Path(f"{save}{RESUME_SUFFIX}")


def default_state_every(iterations: int) -> int:
    """Iterations between resumable states when none is asked for: a tenth of the run, at most MAX_STATE_GAP."""
    return max(1, min(MAX_STATE_GAP, iterations // STATES_PER_RUN))


def _differences(written: Any, expected: Any, key: str = "") -> list[str]:
    """Each leaf where the two identities differ, as "KEY is WRITTEN there, EXPECTED here"."""
    if isinstance(written, dict) and isinstance(expected, dict):
        keys = dict.fromkeys([*expected, *written])
        return [line for name in keys for line in _differences(written.get(name), expected.get(name), f"{key}.{name}")]
    return [] if written == expected else [f"{key.lstrip('.')} is {written!r} there, {expected!r} here"]


def read_state(path: Path, expected: dict[str, Any]) -> dict[str, Any]:
    """The resumable state at ``path``, read without running any code (``weights_only``), checked to be one the
    training ``expected`` (a ``training.identity``) wrote.

    Raises:
        InputError: there is no state, it cannot be read, or another training wrote it.
    """
    restart = training.RESTART
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise InputError(f"--resume: the resumable state {path} {what} (a training with --save writes it); {restart}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a damaged file fails anywhere in torch's unpickler, with any exception type
        text = (str(error).strip() or type(error).__name__).splitlines()[0]
        if any(marker in text for marker in weight_files.WEIGHTS_ONLY_REFUSALS):
            text = "it holds Python objects besides tensors and plain values, which the harness never runs"
        raise training.unusable_state(path, f"cannot be read ({type(error).__name__}: {text})") from None
    written_format = (state.get("format"), state.get("version")) if isinstance(state, dict) else None
    if written_format != (training.RESUME_FORMAT, training.RESUME_VERSION):
        kind = f"{training.RESUME_FORMAT} version {training.RESUME_VERSION}"
        raise training.unusable_state(path, f"is not a resumable state of nas train ({kind})")
    if state.get(training.RESUME_HASH_KEY) != weight_files.structure_hash(
        {key: value for key, value in state.items() if key != training.RESUME_HASH_KEY}
    ):
        raise InputError(
            f"--resume: the resumable state {path} was altered after it was written (its weights, optimizer, schedule "
            f"or progress no longer match the hash written with them); delete it and {restart}"
        )
    try:
        written = json.loads(state["identity"])
    except (KeyError, TypeError, ValueError):
        raise training.unusable_state(path, "is damaged: it names no training") from None
    differences = _differences(written, expected)
    if differences:
        raise InputError(
            f"--resume: the resumable state {path} is of another training ({'; '.join(differences)}); give the "
            f"options it was started with, or {restart} (the state is then replaced)"
        )
    return state


def check_save_path(save: str) -> None:
    """Raises:
    InputError: ``--save`` names no file that can be written (``nas.files.check_writable``), or its resumable
    state's name is taken by a folder or a device (checked before training). A symbolic link at either is replaced
    when written, its target kept."""
    if not save.strip():
        raise InputError("--save is empty; give the checkpoint's file path, e.g. results/net.pt")
    files.check_writable(save, "--save", "net.pt")
    state = resume_path(save)
    if state.is_dir() and not state.is_symlink():
        raise InputError(f"--save {save}: {state}, where its resumable state goes, is a folder; move it aside")
    files.check_writable(state, f"--save {save}: its resumable state", "net.pt.resume")


def resumable_training(
    save: str | None,
    every: int | None,
    resume: bool,
    genotype: Genotype,
    budget: ProxyBudget,
    sources: DataSources,
    seed: int,
    device: str,
) -> training.Resumable | None:
    """Where and how often the training that will be saved as ``save`` writes its resumable state, and with
    ``resume`` the state it continues from, read and checked against this training before any work (None without
    ``save``: nothing to resume).

    Args:
        save: The checkpoint's file (``--save``), checked with ``check_save_path``; None: the run is not saved.
        every: Iterations between states (``--checkpoint-every``); None: ``default_state_every``.
        resume: Continue from the state beside ``save`` (``--resume``); else an earlier state there is replaced.
        genotype: What is trained, with ``budget``, ``sources``, ``seed`` on ``device``: the training's identity.

    Raises:
        InputError: ``every`` or ``resume`` without ``save``, a ``save`` that cannot be written, or a state that
            cannot be resumed here.
    """
    if save is None:
        for option, given in (("--resume", resume), ("--checkpoint-every", every is not None)):
            if given:
                raise InputError(f"{option} is for a training saved with --save FILE (its state is "
                                 f"FILE{RESUME_SUFFIX}); add --save")  # fmt: skip
        return None
    check_save_path(save)
    path = resume_path(save)
    every = every or default_state_every(budget.iterations)
    state = None
    if resume:
        state = read_state(path, training.identity(genotype, budget, sources, seed, device))
    elif path.exists():
        logger.warning("%s holds the state of an earlier run, which this one replaces; to continue that run, stop "
                       "this one and add --resume", path)  # fmt: skip
    logger.info("resumable state: %s, every %d iterations (continue a stopped run with --resume)", path, every)
    return training.Resumable(path, every, state)
