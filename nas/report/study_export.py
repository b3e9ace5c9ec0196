"""``nas export`` of a study: the genotypes it names (its search's front, one search trial, an id, or a checkpoint's
network) exported with ``nas.trained.export``, each record holding the study's numbers for its genotype.

It reads the study as the report does (``nas.report``: its trials, its front, every training of a genotype), so it
sits above ``nas.report`` and beside the command line; ``nas.trained``, which writes each network, reads no study
(it imports neither Optuna nor Ray).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas import paths
from nas import study as studies
from nas.core import genotypes, spaces
from nas.errors import InputError
from nas.report import analysis, build
from nas.study.folder import StudyFolder
from nas.study.records import record_of
from nas.trained import checkpoints, export


@dataclass(frozen=True)
class Choice:
    """Which genotypes an export writes: one of every genotype on the search's ``front``, the genotype of search
    ``trial`` N, a ``genotype`` id (``a2n``, ``uniform:<block>``), or the trained network of a ``checkpoint``."""

    front: bool = False
    trial: int | None = None
    genotype: str | None = None
    checkpoint: str | None = None

    def __post_init__(self) -> None:
        given = [self.front, self.trial is not None, self.genotype is not None, self.checkpoint is not None]
        if sum(given) != 1:
            raise ValueError("choose one of front, trial, genotype and checkpoint")


def chosen_genotypes(
    study: str | Path, choice: Choice, space: spaces.SearchSpace, trials: Sequence[Any], front: set[str]
) -> list[genotypes.Genotype]:
    """The genotypes ``choice`` names, a checkpoint's aside: the front's, a search trial's or an explicit id
    (``study``: the folder as given, for messages; ``trials``: the search's Optuna trials, ``front``: its front's
    genotype ids).

    Raises:
        InputError: no front yet, no such trial, a trial without a genotype, or an id that does not load.
    """
    if choice.front:
        if not front:
            raise InputError(f"{study}: the search has no complete trial, so no front yet; let nas search run")
        return [genotypes.Genotype.parse(g) for g in sorted(front)]
    if choice.trial is not None:
        trial = next((t for t in trials if t.number == choice.trial), None)
        genotype = record_of(trial).genotype if trial else None
        if genotype is None:
            state = f"has no genotype yet ({trial.state.name.lower()})" if trial else "does not exist"
            raise InputError(f"{study}: trial {choice.trial} {state}; pick a finished trial from 0 to "
                             f"{len(trials) - 1} (trials.csv lists them)")  # fmt: skip
        return [genotypes.Genotype.parse(genotype)]
    if choice.genotype is None:
        raise ValueError("a checkpoint's genotype is its network's: nas.trained.checkpoints.load reads it")
    return [genotypes.Genotype.resolve(choice.genotype, space)]


def export_study(
    study: str | Path | None, choice: Choice, out: str, plugins_trusted: bool = False
) -> export.ExportResult:
    """Exports the genotypes of the study folder ``study`` that ``choice`` names into ``out`` (``--out``, created if
    missing): each network's program, its ONNX where the packages are installed, and its record (``nas export``).
    Every genotype and output file is checked before any export. A checkpoint needs no study: without one it is
    exported alone (``nas.trained.export.export_checkpoint``); with one, its record adds the study's numbers.

    Args:
        study: The study folder, as given (messages name it so); None: a checkpoint's network, without a study.
        choice: Which genotypes.
        out: The output folder, as given.
        plugins_trusted: Whether the plugin files the study's space names may be imported.

    Raises:
        InputError: no study there, a choice the study cannot give, a genotype that does not run in its space, or an
            output that cannot be written.
        ExportError: a block cannot be exported with dynamic shapes.
    """
    if study is None:
        if choice.checkpoint is None:
            raise InputError("give the study folder (results/<space name>) for --front, --trial and --genotype; only "
                             "--checkpoint exports without a study")  # fmt: skip
        return export.export_checkpoint(choice.checkpoint, out)
    folder = StudyFolder(paths.not_empty(study, "the study folder", "results/sr_tiny"), plugins_trusted=plugins_trusted)
    space = folder.space()
    source = studies.load_study(folder)
    frame = analysis.trials_frame(source)
    done = analysis.complete(frame) if not frame.empty else frame
    front = set(build.front_of(source, done)["genotype"]) if not done.empty else set()
    trained = checkpoints.load(choice.checkpoint) if choice.checkpoint is not None else None
    chosen = (
        [trained.genotype]
        if trained is not None
        else chosen_genotypes(study, choice, space, source.get_trials(deepcopy=False), front)
    )
    written = export.output_paths(chosen, space, out)
    runs = build.trainings_of(folder, {str(arch) for arch in chosen})
    numbers = {str(arch): {"folder": str(folder.root), "on_front": str(arch) in front, "runs": runs[str(arch)]}
               for arch in chosen}  # fmt: skip
    return export.export_networks(written, space, out, numbers, trained, choice.checkpoint)
