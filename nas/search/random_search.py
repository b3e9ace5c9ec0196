"""``nas random-search``: random search over a study's space, the search's reference (does the search beat random
sampling? Yang et al., "NAS evaluation is frustratingly hard", ICLR 2020).

A search's rising hypervolume says nothing by itself: random sampling of the same space rises too. Each of
``repeats`` random searches runs as the search ran, differing only in the sampler: the same uniform placements
first (every proxy seed, as the search enqueues them), then the per-depth choices drawn by Optuna's
``RandomSampler`` from the searcher's own distributions (uniform and independent per depth) with the search's first
seed, up to as many trials as the search had counted when the first baseline was planned. Each repeat's
sequence is recorded on the baseline's study; its distinct (genotype, seed) runs are trained as designed runs
(``nas.search.designed``), so a run the search already trained is found in the folder's evaluation store, not
trained again (same genotype, seed, budget and data: the same network).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import optuna

from nas.core import genotypes
from nas.core.spaces import SearchSpace
from nas.search import designed
from nas.search.designed import DesignedResult, DesignedRun
from nas.search.searcher import distributions
from nas.search.worker import Trainer
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.lifecycle import baseline_genotypes
from nas.study.records import counted
from nas.study.storage import load_designed, load_study, recorded_sequences
from nas.trained import parents

RANDOM_ARM = "random"
SEED_OFFSET = 1  # repeat r samples with seed search.seed + 1 + r: never the search sampler's own seed


@dataclass(frozen=True)
class RandomSearchPlan:
    """``sequences``: per repeat, its trials in order as (genotype id, seed), each ``trials`` long."""

    folder: Path
    space: SearchSpace
    trials: int
    sequences: tuple[tuple[tuple[str, int], ...], ...]

    @property
    def runs(self) -> tuple[DesignedRun, ...]:
        distinct = dict.fromkeys(run for sequence in self.sequences for run in sequence)
        return tuple(DesignedRun(genotype, seed, RANDOM_ARM) for genotype, seed in distinct)

    @property
    def attributes(self) -> Mapping[str, Any]:
        return {"trials": self.trials, "sequences": [[list(run) for run in sequence] for sequence in self.sequences]}

    def describe(self) -> str:
        return (f"random search of {self.folder}: {len(self.sequences)} repeats × {self.trials} trials "
                f"({len(self.runs)} distinct runs)")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"study": str(self.folder), "repeats": len(self.sequences), "trials": self.trials,
                "runs": len(self.runs)}  # fmt: skip


def drawn_sequence(space: SearchSpace, trials: int, repeat: int) -> tuple[tuple[str, int], ...]:
    """Repeat ``repeat``'s trials: the search's enqueued uniform placements, then random draws at its first seed."""
    enqueued = [(str(arch), seed) for _, arch in baseline_genotypes(space) for seed in space.proxy.seeds]
    sampler = optuna.samplers.RandomSampler(seed=space.search.seed + SEED_OFFSET + repeat)
    study = optuna.create_study(sampler=sampler)
    depth_choices = distributions(space)
    drawn = [
        (str(genotypes.from_params(space, study.ask(fixed_distributions=depth_choices).params)), space.proxy.seeds[0])
        for _ in range(max(0, trials - len(enqueued)))
    ]
    return tuple((enqueued + drawn)[:trials])


def plan(folder: StudyFolder, space: SearchSpace, repeats: int) -> RandomSearchPlan:
    """The repeats recorded by an earlier baseline, and new ones up to ``repeats`` of its trial count (the search's
    counted trials when this is the first).

    Raises:
        StudyError: the space searches a grid (it covers the space: no sample to compare), or the search has not
            gone beyond its uniform placements.
    """
    if space.search.sampler == "grid":
        raise StudyError(
            f"{folder.root}: a grid search trains every point of its space; random sampling has nothing to add"
        )
    trials, sequences = recorded_sequences(load_designed(folder, Kind.RANDOM))
    if not sequences:
        trials = sum(1 for trial in load_study(folder).get_trials(deepcopy=False) if counted(trial))
        enqueued = len(baseline_genotypes(space)) * len(space.proxy.seeds)
        if trials <= enqueued:
            raise StudyError(
                f"{folder.root}: the search has {trials} finished trials, no more than the {enqueued} uniform "
                "placements it starts with; let `nas search` sample before comparing it with random sampling"
            )
    added = tuple(drawn_sequence(space, trials, repeat) for repeat in range(len(sequences), repeats))
    return RandomSearchPlan(folder.root, space, trials, sequences + added)


def random_search(
    folder: StudyFolder, repeats: int, address: str | None, trainer: Trainer, stream: TextIO
) -> DesignedResult:
    """Plans and trains the random-search baseline of the study in ``folder`` (resuming one that was interrupted).

    Raises:
        StudyError: no study in the folder, nothing to compare, or another process is running on it.
    """
    space = folder.space()
    parents.network(space)  # a parent that cannot be used stops the baseline before it plans
    return designed.train_designed(folder, Kind.RANDOM, lambda: plan(folder, space, repeats), address, trainer, stream)
