"""``nas confirm``: the search's front and every uniform placement, retrained with fresh seeds.

A search's front and its "best in band" are maxima of single noisy runs, chosen adaptively: they carry the
search's optimism. Confirmation retrains each front genotype (or the ``top`` ones by hypervolume contribution) and
every uniform placement with seeds no search trial used, optionally at a longer budget, as designed runs
(``nas.search.designed``). The seeds and the budget scale are fixed by the first ``nas confirm`` of a study and
recorded in its confirmation study, so a resumed or repeated confirmation trains only what is missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import optuna

from nas.core import pareto
from nas.core.settings import ProxyBudget
from nas.core.spaces import SearchSpace
from nas.search import designed
from nas.search.designed import DesignedResult, DesignedRun
from nas.search.worker import Trainer
from nas.study.folder import Kind, StudyError, StudyFolder
from nas.study.lifecycle import baseline_genotypes
from nas.study.records import record_of
from nas.study.storage import load_designed, load_study
from nas.trained import parents

FRONT_ARM = "front"


@dataclass(frozen=True)
class ConfirmationPlan:
    """The front and uniform placements of the search in ``folder``, each trained with ``seeds`` at the search's
    iterations × ``budget_scale`` (``space``)."""

    folder: Path
    space: SearchSpace
    seeds: tuple[int, ...]
    budget_scale: float
    runs: tuple[DesignedRun, ...]

    @property
    def attributes(self) -> Mapping[str, Any]:
        return {"seeds": list(self.seeds), "budget_scale": self.budget_scale}

    def describe(self) -> str:
        genotypes_ = len({r.genotype for r in self.runs})
        return (f"confirmation of {self.folder}: {genotypes_} genotypes (front and uniform placements) × seeds "
                f"{list(self.seeds)} at budget × {self.budget_scale:g}")  # fmt: skip

    def to_json(self) -> dict[str, Any]:
        return {"study": str(self.folder), "genotypes": sorted({r.genotype for r in self.runs}),
                "seeds": list(self.seeds), "budget_scale": self.budget_scale}  # fmt: skip


def fresh_seeds(used: set[int], count: int) -> tuple[int, ...]:
    """The ``count`` smallest non-negative seeds not in ``used``."""
    seeds: list[int] = []
    candidate = 0
    while len(seeds) < count:
        if candidate not in used:
            seeds.append(candidate)
        candidate += 1
    return tuple(seeds)


def front_genotypes(search: optuna.Study, objectives: tuple[str, ...], top: int | None) -> list[str]:
    """The distinct genotypes of the search's front (all seeds' trials); with ``top``, the ``top`` with the largest
    exclusive hypervolume contribution in PSNR × the first cost (ties broken by PSNR)."""
    done = [t for t in search.get_trials(deepcopy=False) if t.state == optuna.trial.TrialState.COMPLETE]
    if not done:
        return []
    values = np.array([t.values for t in done], dtype=float)
    on_front = pareto.nondominated(values, pareto.maximized(objectives))
    # A PSNR-only study has no cost: its front is the best PSNR, and every contribution is measured at cost 0.
    front = {_genotype(t): (t.values[0], t.values[1] if len(t.values) > 1 else 0.0)
             for t, keep in zip(done, on_front, strict=True) if keep}  # fmt: skip
    if top is None or top >= len(front):
        return sorted(front)
    return sorted(front, key=lambda g: (_contribution(front, g), front[g][0]), reverse=True)[:top]


def _genotype(trial: optuna.trial.FrozenTrial) -> str:
    """The genotype id of a search trial (the searcher names one in every trial it asks)."""
    genotype = record_of(trial).genotype
    if genotype is None:
        raise StudyError(f"trial {trial.number} of the search names no genotype; it is not a trial of this harness")
    return genotype


def _contribution(front: dict[str, tuple[float, float]], genotype: str) -> float:
    """The area (PSNR × cost) that ``genotype`` alone dominates within the 2-D front."""
    points = sorted(front.values(), key=lambda p: p[1])
    psnr, cost = front[genotype]
    index = points.index((psnr, cost))
    worse_psnr = points[index - 1][0] if index > 0 else min(p[0] for p in points)
    next_cost = points[index + 1][1] if index + 1 < len(points) else max(p[1] for p in points)
    return max(0.0, psnr - worse_psnr) * max(0.0, next_cost - cost)


def plan(folder: StudyFolder, space: SearchSpace, seeds: int, top: int | None, budget_scale: float) -> ConfirmationPlan:
    """What to confirm: the front (or its top ``top``) and every uniform placement, with ``seeds`` fresh seeds.

    Raises:
        StudyError: the search has no complete trial, or an earlier confirmation of this study used another
            budget scale.
    """
    search = load_study(folder)
    genotype_ids = front_genotypes(search, space.objectives, top)
    if not genotype_ids:
        raise StudyError(f"{folder.root}: the search has no complete trial to confirm; run `nas search` first")
    existing = load_designed(folder, Kind.CONFIRMATION)
    if existing is not None and "seeds" in existing.user_attrs:
        if existing.user_attrs["budget_scale"] != budget_scale:
            raise StudyError(
                f"{folder.root}: this study was confirmed at --budget-scale {existing.user_attrs['budget_scale']}; "
                "use the same scale to add to it"
            )
        chosen = tuple(existing.user_attrs["seeds"])
        chosen = chosen + fresh_seeds(_used_seeds(search, space) | set(chosen), max(0, seeds - len(chosen)))
    else:
        chosen = fresh_seeds(_used_seeds(search, space), seeds)
    labels = {str(arch): label for label, arch in baseline_genotypes(space)}
    for genotype_id in genotype_ids:
        labels.setdefault(genotype_id, FRONT_ARM)
    runs = tuple(DesignedRun(g, seed, label) for g, label in sorted(labels.items()) for seed in chosen)
    iterations = max(1, round(space.proxy.iterations * budget_scale))
    most = int(ProxyBudget.__dataclass_fields__["iterations"].metadata["range"][1])
    if iterations > most:
        raise StudyError(
            f"--budget-scale {budget_scale:g}: {iterations:,} iterations, more than the {most:,} a proxy budget "
            f"allows; use a scale up to {most / space.proxy.iterations:g}"
        )
    training_space = replace(space, proxy=replace(space.proxy, iterations=iterations))
    return ConfirmationPlan(folder.root, training_space, chosen, budget_scale, runs)


def _used_seeds(search: optuna.Study, space: SearchSpace) -> set[int]:
    """Every seed the ``search`` trained with (its proxy seeds and the seeds of its trials)."""
    seeds = (record_of(t).seed for t in search.get_trials(deepcopy=False))
    return set(space.proxy.seeds) | {seed for seed in seeds if seed is not None}


def confirm(
    folder: StudyFolder,
    seeds: int,
    top: int | None,
    budget_scale: float,
    address: str | None,
    trainer: Trainer,
    stream: TextIO,
) -> DesignedResult:
    """Plans and trains the confirmation of the study in ``folder`` (resuming one that was interrupted).

    Raises:
        StudyError: no study in the folder, nothing to confirm, another process is running on it, or it was
            confirmed at another budget scale.
    """
    space = folder.space()
    parents.network(space)  # a parent that cannot be used stops the confirmation before it plans
    return designed.train_designed(
        folder, Kind.CONFIRMATION, lambda: plan(folder, space, seeds, top, budget_scale), address, trainer, stream
    )
