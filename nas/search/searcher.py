"""The Ray Tune searcher: an Optuna study asked for each trial and told each outcome, through public APIs only.

``StudySearcher`` owns an ``optuna.Study`` on the study's persistent storage and the live ``optuna.Trial`` of every
Tune trial in flight. Each suggested configuration carries the trial's seed and Optuna number (enqueued trials,
baselines among them, bring their own seeds); each outcome is stored as the trial's ``TrialRecord`` with the state it
implies. A trial that stopped without an outcome (the search was interrupted) is left RUNNING for the next run to
re-run: the Optuna storage, not Tune's searcher checkpoint, is what a search resumes from.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, Trial, TrialState
from ray.tune.search import Searcher

from nas.core import genotypes
from nas.core.spaces import SearchSpace
from nas.search.worker import GENOTYPE, NUMBER, RERUN_OF, SEED
from nas.study.records import Outcome, TrialRecord

WORKER_LOST = "the worker process died twice (retried once); Ray's error.txt is in the study's tune/ folder"


def distributions(search_space: SearchSpace) -> dict[str, BaseDistribution]:
    """One categorical parameter per depth, over that depth's choices (typed as ``Study.ask`` takes them: a dict is
    invariant in its values)."""
    return {
        genotypes.depth_key(depth): CategoricalDistribution(search_space.choices_at(depth))
        for depth in range(search_space.depth)
    }


def make_sampler(search_space: SearchSpace) -> optuna.samplers.BaseSampler:
    """The sampler the space names, seeded (Optuna's own default would be TPE). A grid is enqueued instead
    (``nas.study.lifecycle.grid_params``); the random sampler only stands behind it."""
    seed = search_space.search.seed
    name = search_space.search.sampler
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(population_size=search_space.search.population, seed=seed)
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    if name == "gp":
        return optuna.samplers.GPSampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


class StudySearcher(Searcher):
    """Asks the study for every Tune trial and tells it every outcome; ``on_record`` sees each recorded trial."""

    def __init__(
        self,
        search_space: SearchSpace,
        study: optuna.Study,
        on_record: Callable[[FrozenTrial, TrialRecord], None],
        sampled: bool = True,
    ) -> None:
        super().__init__(metric=None, mode=None)  # several objectives: the study holds their directions
        self._space = search_space
        self._study = study
        # A study of designed runs only serves its enqueued trials: it has no per-depth parameters to sample.
        self._distributions = distributions(search_space) if sampled else {}
        self._on_record = on_record
        self._live: dict[str, Trial] = {}  # the Tune trial id → its Optuna trial

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict, **spec: Any) -> bool:
        return True  # the space and objectives come from the study, not from Tune's config

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        trial = self._study.ask(fixed_distributions=self._distributions)
        self._live[trial_id] = trial
        enqueued = TrialRecord.from_user_attrs(trial.user_attrs)
        seed = enqueued.seed if enqueued.seed is not None else self._space.proxy.seeds[0]
        # A designed run names its genotype; a search trial's is the one its per-depth choices make.
        genotype = enqueued.genotype or str(genotypes.from_params(self._space, trial.params))
        trial.set_user_attr(SEED, seed)
        trial.set_user_attr(GENOTYPE, genotype)
        return {GENOTYPE: genotype, SEED: seed, NUMBER: trial.number, RERUN_OF: enqueued.rerun_of}

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self._live:
            return
        reported = TrialRecord.from_report(result) if result else None
        if (reported is None or reported.outcome is None) and not error:
            return  # stopped without an outcome: the search is being interrupted; the next run re-runs it
        trial = self._live.pop(trial_id)
        if reported is None or reported.outcome is None:
            reported = TrialRecord(outcome=Outcome.FAILED, error=WORKER_LOST, worker_lost=True)
        record = reported.with_values_checked(self._space.objectives)
        assert record.outcome is not None  # with_values_checked keeps an outcome or sets FAILED
        for key, value in record.to_user_attrs().items():
            trial.set_user_attr(key, value)
        if record.outcome.has_values:
            recorded = self._study.tell(trial, record.objective_values(self._space.objectives))
        elif record.outcome is Outcome.INFEASIBLE:
            recorded = self._study.tell(trial, state=TrialState.PRUNED)
        else:
            recorded = self._study.tell(trial, state=TrialState.FAIL)
        self._on_record(recorded, record)

    def save(self, checkpoint_path: str) -> None:
        """Writes which Optuna trial each Tune trial in flight is; the study itself is in its storage."""
        with open(checkpoint_path, "w") as handle:
            json.dump(
                {"study": self._study.study_name, "in_flight": {k: t.number for k, t in self._live.items()}}, handle
            )

    def restore(self, checkpoint_path: str) -> None:
        """Tune's restore is not how a search resumes: running ``nas search`` again re-runs interrupted trials."""
        raise NotImplementedError("resume a search by running `nas search` again on its study folder")
