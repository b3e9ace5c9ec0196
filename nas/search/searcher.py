"""The Ray Tune searcher: Optuna's multi-objective search, with every trial outcome recorded in the study.

``StudySearcher`` is Ray's ``OptunaSearch`` on a persistent storage, with three additions: each suggested
configuration carries the trial's seed and Optuna number (baselines are enqueued with their seeds), each
outcome is stored as user attributes (genotype, metrics, duplicate_of, error...) with the state it implies,
and a trial that stopped without an outcome (the search was interrupted) is left RUNNING for the next run to
re-run. Tune's own searcher checkpoints are not used: the Optuna storage is what a search resumes from.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import CategoricalDistribution
from optuna.trial import FrozenTrial, TrialState
from ray.tune.search.optuna import OptunaSearch

from nas.core import genotypes, pareto
from nas.core.spaces import SearchSpace
from nas.search import studies
from nas.search.worker import NUMBER, RERUN_OF, SEED

RECORDED_ATTRS = (
    "outcome", "error", "duplicate_of", "psnr", "ssim", "macs", "params", "ops", "latency_ms",
    "train_seconds", "trainer_seconds", "trial_seconds", "final_loss", "device", "precision", "node",
)  # fmt: skip
WORKER_DIED = "the worker process died twice (retried once); Ray's error.txt is in the study's tune/ folder"


def directions(objectives: tuple[str, ...]) -> list[str]:
    return ["maximize" if up else "minimize" for up in pareto.maximized(objectives)]


def distributions(search_space: SearchSpace) -> dict[str, CategoricalDistribution]:
    """One categorical parameter per depth, over that depth's choices."""
    return {
        genotypes.depth_key(depth): CategoricalDistribution(search_space.choices_at(depth))
        for depth in range(search_space.depth)
    }


def make_sampler(search_space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler the space names, seeded (Optuna's own default would be TPE)."""
    seed = search_space.search.seed
    name = search_space.search.sampler
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=search_space.search.population, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    if name == "grid":
        grid = {key: list(dist.choices) for key, dist in distributions(search_space).items()}
        return _Grid(grid, seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


class _Grid(optuna.samplers.GridSampler):
    """Optuna's grid sampler without its ``Study.stop()`` once the grid is done: that call is only valid inside
    ``Study.optimize``, and a search stops at its trial count instead (capped by ``grid_trials``)."""

    def after_trial(self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Any) -> None:
        pass


def grid_trials(search_space: SearchSpace, baselines: int) -> int:
    """Trials that cover the grid once: every combination, plus the enqueued baselines the grid repeats."""
    return math.prod(len(search_space.choices_at(d)) for d in range(search_space.depth)) + baselines


class StudySearcher(OptunaSearch):
    def __init__(
        self,
        search_space: SearchSpace,
        storage: optuna.storages.BaseStorage,
        study_name: str,
        on_record: Callable[[FrozenTrial], None],
    ) -> None:
        super().__init__(
            space=distributions(search_space),
            metric=list(search_space.objectives),
            mode=["max" if d == "maximize" else "min" for d in directions(search_space.objectives)],
            sampler=make_sampler(search_space),
            study_name=study_name,
            storage=storage,
        )
        self._search_space = search_space
        self._objectives = search_space.objectives
        self._default_seed = search_space.proxy.seeds[0]
        self._on_record = on_record

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        config = super().suggest(trial_id)
        if config is None:
            return None
        ot_trial = self._ot_trials[trial_id]
        seed = ot_trial.user_attrs.get(SEED, self._default_seed)
        ot_trial.set_user_attr(SEED, seed)
        ot_trial.set_user_attr("genotype", str(genotypes.from_params(self._search_space, config)))
        return {**config, SEED: seed, NUMBER: ot_trial.number, RERUN_OF: ot_trial.user_attrs.get(RERUN_OF)}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self._ot_trials:
            return
        if not (result and "outcome" in result) and not error:
            return  # stopped without an outcome: the search is being interrupted; the next run re-runs it
        ot_trial = self._ot_trials.pop(trial_id)
        outcome = result if result and "outcome" in result else {"outcome": studies.FAILED, "error": WORKER_DIED}
        values = [outcome.get(objective) for objective in self._objectives]
        if outcome["outcome"] in (studies.TRAINED, studies.DUPLICATE) and not all(_finite(v) for v in values):
            outcome = {**outcome, "outcome": studies.FAILED, "error": f"non-finite objective values {values}"}
        for key in RECORDED_ATTRS:
            if key in outcome:
                ot_trial.set_user_attr(key, outcome[key])
        if outcome["outcome"] in (studies.TRAINED, studies.DUPLICATE):
            recorded = self._ot_study.tell(ot_trial, values)
        elif outcome["outcome"] == studies.INFEASIBLE:
            recorded = self._ot_study.tell(ot_trial, state=TrialState.PRUNED)
        else:
            recorded = self._ot_study.tell(ot_trial, state=TrialState.FAIL)
        self._on_record(recorded)

    def save(self, checkpoint_path: str) -> None:
        """Nothing to save: the Optuna storage holds the search's state."""

    def restore(self, checkpoint_path: str) -> None:
        """Nothing to restore: a resumed search reopens the Optuna storage."""


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)
