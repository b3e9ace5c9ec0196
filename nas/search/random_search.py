"""``nas random-search``: random searches of a study's space, the search's reference (does the search beat random
sampling? Yang et al., "NAS evaluation is frustratingly hard", ICLR 2020).

A search's rising hypervolume says nothing by itself: random sampling of the same space rises too. Each of
``repeats`` random searches runs as the search ran, differing only in how it chooses: the same uniform placements
first (``lifecycle.baseline_runs``: every proxy seed, as the search enqueues them), then each depth's choice drawn
by Optuna's ``RandomSampler`` from the searcher's own distributions (uniform and independent per depth; sampler
seed: the search's sampler seed + 1 + the repeat), trained at the first proxy seed as the search's sampled trials
are, up to as many trials as the search had counted when the first baseline was planned. The plan is recorded on
the baseline's study in one attribute; its distinct (genotype, seed) runs are trained as designed runs
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
from nas.study.lifecycle import baseline_runs
from nas.study.records import counted
from nas.study.storage import RANDOM_SEARCH_PLAN, Sequences, load_designed, load_study, recorded_sequences
from nas.trained import parents

RANDOM_ARM = "random"
SEED_OFFSET = 1  # repeat r samples with seed search.seed + 1 + r: never the search sampler's own seed
MOST_RUNS = 100_000  # repeats × trials planned at most: each is drawn, recorded and enqueued


@dataclass(frozen=True)
class RandomSearchPlan:
    """``sequences``: per repeat, its trials in order as (genotype id, seed), each ``trials`` long."""

    folder: Path
    space: SearchSpace
    trials: int
    sequences: Sequences

    @property
    def runs(self) -> tuple[DesignedRun, ...]:
        distinct = dict.fromkeys(run for sequence in self.sequences for run in sequence)
        return tuple(DesignedRun(genotype, seed, RANDOM_ARM) for genotype, seed in distinct)

    @property
    def attributes(self) -> Mapping[str, Any]:
        sequences = [[list(run) for run in sequence] for sequence in self.sequences]
        return {RANDOM_SEARCH_PLAN: {"trials": self.trials, "sequences": sequences}}

    def describe(self) -> str:
        return (f"random search of {self.folder}: {len(self.sequences)} repeats × {self.trials} trials "
                f"({len(self.runs)} distinct runs)")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"study": str(self.folder), "repeats": len(self.sequences), "trials": self.trials,
                "runs": len(self.runs)}  # fmt: skip


def drawn_sequence(space: SearchSpace, trials: int, repeat: int) -> tuple[tuple[str, int], ...]:
    """Repeat ``repeat``'s trials as (genotype id, training seed): the search's uniform placements, then random
    draws trained at the first proxy seed."""
    enqueued = [(str(arch), seed) for _, arch, seed in baseline_runs(space)]
    sampler = optuna.samplers.RandomSampler(seed=space.search.seed + SEED_OFFSET + repeat)
    study = optuna.create_study(sampler=sampler)
    depth_choices = distributions(space)
    drawn = [
        (str(genotypes.from_params(space, study.ask(fixed_distributions=depth_choices).params)), space.proxy.seeds[0])
        for _ in range(max(0, trials - len(enqueued)))
    ]
    return tuple((enqueued + drawn)[:trials])


def plan(folder: StudyFolder, space: SearchSpace, repeats: int) -> RandomSearchPlan:
    """The repeats recorded by an earlier baseline, and new ones up to ``repeats`` in all, of its trial count (the
    search's counted trials when this is the first).

    Raises:
        StudyError: the space searches a grid (it covers the space: no sample to compare), the search has not gone
            beyond its uniform placements, or the plan would hold more than ``MOST_RUNS`` trials.
    """
    if space.search.sampler == "grid":
        raise StudyError(
            f"{folder.root}: a grid search trains every point of its space; random sampling has nothing to add"
        )
    trials, sequences = recorded_sequences(load_designed(folder, Kind.RANDOM))
    if not sequences:
        trials = sum(1 for trial in load_study(folder).get_trials(deepcopy=False) if counted(trial))
        enqueued = len(baseline_runs(space))
        if trials <= enqueued:
            raise StudyError(
                f"{folder.root}: the search has {trials} finished trials, no more than the {enqueued} uniform "
                "placements it starts with; let `nas search` sample before comparing it with random sampling"
            )
    if repeats * trials > MOST_RUNS:
        raise StudyError(
            f"{folder.root}: {repeats} repeats × {trials} trials is more than the {MOST_RUNS:,} trials a baseline "
            f"holds; ask for at most {max(1, MOST_RUNS // trials)} repeats"
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
