"""``nas search``: Ray Tune runs the trials, Optuna decides them, the study folder keeps everything.

A search opens (or creates) the study in ``DIR/<space name>/``, recovers trials a killed run left in flight
(recorded ``interrupted`` and enqueued again), enqueues the uniform placements (and a grid's combinations) on a new
study, and lets Tune run trials until the study holds ``--trials`` finished ones. Workers train with the validated
space pinned in the study folder when it was created, never with the YAML file as it is now. Ray starts locally on
demand, or joins the cluster at ``--address``.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import optuna
import torch
from optuna.trial import FrozenTrial

from nas import paths
from nas.core import bounds, pareto, spaces, training
from nas.core.spaces import SearchSpace
from nas.errors import InputError
from nas.search import local_ray, preflight, worker
from nas.search.progress import Progress, ShowProgress
from nas.search.searcher import StudySearcher
from nas.search.store import EvaluationStore
from nas.search.worker import GENOTYPE, SEED, Trainer, TrialContext
from nas.study import lifecycle
from nas.study.folder import JOURNAL, Kind, StudyFolder, folder_of
from nas.study.lifecycle import OpenStudy, baseline_genotypes, grid_params, timestamp
from nas.study.machine import environment
from nas.study.records import Outcome, TrialRecord, append_trial_row, counted, record_of, write_trials_csv
from nas.trained import parents

logger = logging.getLogger(__name__)

# Tune's per-trial CSV/JSON/TensorBoard files duplicate the study folder's logs; its legacy output engine stays
# silent at verbose=0, so the progress line is the only output.
TUNE_ENVIRONMENT = {"TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1", "RAY_AIR_NEW_OUTPUT": "0"}
# Without Tune's files its end-of-run summary warns that it found no metrics (the study has them); on Ctrl-C it
# suggests Tuner.restore, while a search resumes from its study.
QUIET_LOGGERS = ("ray.tune.analysis.experiment_analysis", "ray.tune.tune")


def quiet_process() -> None:
    """Process-wide settings for a search run from the command line: Tune writes and says only what the study
    does not already hold, and Optuna logs warnings only (the progress line says what happens)."""
    for name, value in TUNE_ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class RunSettings:
    """How one ``nas search`` run runs: trial total, where the study lives, which Ray cluster."""

    trials: int | None = None  # total finished trials the study should hold (default: the space's)
    results: Path = Path("results")  # the study folder is results/<space name>
    storage: str | None = None  # an Optuna storage URL (default: a journal file in the study folder)
    address: str | None = None  # a Ray cluster to join (default: start Ray locally)
    fresh: bool = False  # move an existing study folder aside and start anew


COUNTS = ("finished", "trained", "duplicates", "infeasible", "failed")


@dataclass(frozen=True)
class RunSummary:
    """What a run of a folder's study of ``kind`` (a search, a confirmation, an experiment) left in it."""

    folder: StudyFolder
    kind: Kind
    finished: int
    trained: int
    duplicates: int
    infeasible: int
    failed: int
    front: int
    interrupted: bool
    front_trials: tuple[dict[str, Any], ...] = ()  # number, genotype and objective values of each front trial
    storage: str = JOURNAL  # the study's storage URL (``journal``: the folder's optuna.journal)

    def counts_text(self) -> str:
        noun = "trials" if self.kind.samples else "runs"
        return (f"{self.finished} {noun} ({self.trained} trained, {self.duplicates} duplicates, {self.infeasible} "
                f"infeasible, {self.failed} failed)")  # fmt: skip

    def to_text(self) -> str:
        """The summary as ``nas search`` prints it."""
        text = f"study {self.folder.root}: {self.counts_text()}; Pareto front {self.front}"
        if self.interrupted:
            return text
        return f"{text}\nreport: nas report {self.folder.root}    dashboard: nas dashboard {self.folder.root}"

    def to_json(self) -> dict[str, Any]:
        """The summary as ``nas search --json`` prints it: counts, the front and the study's paths."""
        paths = {"folder": self.folder.root, "trials_csv": self.csv, "report": self.folder.report}
        if self.storage == JOURNAL:
            paths["journal"] = self.folder.journal
        return {
            "counts": {k: getattr(self, k) for k in COUNTS}, "front_size": self.front, "front": list(self.front_trials),
            "interrupted": self.interrupted, "storage": self.storage, "paths": {k: str(v) for k, v in paths.items()},
        }  # fmt: skip

    @property
    def csv(self) -> Path:
        return self.folder.trials_csv_of(self.kind)


def trial_threads(space: SearchSpace, device: str) -> int | None:
    """The CPU threads torch uses in one trial on ``device``: the CPUs the trial is given (None on a GPU)."""
    return max(1, int(space.resources.cpu)) if device == "cpu" else None


def _tune_trial(config: dict[str, Any], space: SearchSpace, store: EvaluationStore, trainer: Trainer) -> None:
    """The Tune function trainable: one trial on this worker's device, one report."""
    import ray
    from ray import tune

    device = "cuda" if ray.get_gpu_ids() else "cpu"
    threads = trial_threads(space, device)
    try:
        for plugin in space.plugins:  # blocks a plugin registers exist in this worker process too
            spaces.import_plugin(Path(plugin))
        record = worker.run(config, TrialContext(space, store, device, threads, trainer))
    except Exception as failure:  # noqa: BLE001 - a fault before the trial's own handling is its recorded reason,
        # not a worker that dies and is retried (whose reason would be in Ray's error file only)
        reason = f"{type(failure).__name__}: {failure}"
        record = TrialRecord(genotype=config[GENOTYPE], seed=config[SEED], outcome=Outcome.FAILED, error=reason)
    record = replace(record, node=ray.get_runtime_context().get_node_id())
    objectives = dict.fromkeys(space.objectives)  # Tune wants every metric key, even in a failure
    tune.report({**objectives, **record.to_report()})


def _gpu_names() -> list[str]:
    return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]


def _record_environment(folder: StudyFolder, requested: int, cluster: dict[str, float]) -> None:
    """Appends this run (time, trials asked, Ray cluster, driver machine) to environment.json."""
    run = {"started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "trials": requested, "ray_cluster": cluster}
    folder.add_environment_run({**run, **environment(_gpu_names())})


def _total(search_space: SearchSpace, trials: int | None) -> int:
    total = trials or search_space.search.trials
    if search_space.search.sampler == "grid":
        baselines = len(baseline_genotypes(search_space)) * len(search_space.proxy.seeds)
        grid_total = len(grid_params(search_space)) + baselines
        if total > grid_total:
            logger.info("the grid is covered by %d trials; running %d", grid_total, grid_total)
            total = grid_total
    return total


def search(
    space_path: str | Path,
    settings: RunSettings = RunSettings(),
    trainer: Trainer = training.train,
    stream: TextIO | None = None,
) -> RunSummary:
    """Runs (or resumes) the study of ``space_path`` until it holds ``settings.trials`` finished trials.

    The study folder is locked for the run (``nas.study.lock``): a second search on it stops at once. ``stream``
    (default: stderr as it is at the call) takes the progress line; messages go to this module's logger (the
    command line shows them on stderr).

    Raises:
        SpaceError, StudyError, InputError: bad space file, results folder or cluster address; a study folder
            that cannot be resumed as asked, or that another live process is searching.
    """
    space_path = paths.resolved(paths.not_empty(space_path, "--space", "search_spaces/sr_tiny.yaml"), "--space")
    given = spaces.load(space_path)
    parents.network(given)  # a parent that cannot be used stops the search before anything is written
    folder = folder_of(settings.results, given)
    preflight.check_results(folder.root.parent, folder.root)
    preflight.check_cluster(settings.address)
    if given.plugins:  # they are Python code, run on load: say which
        logger.warning("imported plugin files %s", ", ".join(str(p) for p in given.plugins))
    with lifecycle.searching(folder, given, space_path, settings.storage, settings.fresh) as opened:
        parents.network(opened.space)  # a resumed study pins its parent's hash: a changed file stops it here
        return _search_study(opened, settings, trainer, sys.stderr if stream is None else stream)


def _search_study(opened: OpenStudy, settings: RunSettings, trainer: Trainer, stream: TextIO) -> RunSummary:
    total = _total(opened.space, settings.trials)
    for warning in bounds.support_warnings(opened.space, total):  # not errors: a short study is still useful
        logger.warning("%s", warning)
    write_trials_csv(opened.csv, opened.study)
    progress = Progress(opened.study.get_trials(deepcopy=False), opened.space.objectives, total, stream)
    if total > progress.finished:
        run_trials(opened, total - progress.finished, progress, settings.address, trainer)
    write_trials_csv(opened.csv, opened.study)
    return summarise(opened, progress, total)


def summarise(opened: OpenStudy, progress: Progress, total: int) -> RunSummary:
    """The counts of a run that stopped (finished, or interrupted short of ``total``)."""
    finished = [t for t in opened.study.get_trials(deepcopy=False) if counted(t)]
    outcomes = [record_of(t).outcome for t in finished]
    if progress.interactive:
        progress.stream.write("\n")
    return RunSummary(
        folder=opened.folder,
        kind=opened.kind,
        finished=len(finished),
        trained=outcomes.count(Outcome.TRAINED),
        duplicates=outcomes.count(Outcome.DUPLICATE),
        infeasible=outcomes.count(Outcome.INFEASIBLE),
        failed=outcomes.count(Outcome.FAILED),
        front=progress.front_size(),
        interrupted=len(finished) < total,
        front_trials=_front_trials(finished, opened.space.objectives),
        storage=opened.folder.storage_and_name()[0],
    )


def _front_trials(finished: list[FrozenTrial], objectives: tuple[str, ...]) -> tuple[dict[str, Any], ...]:
    complete = [t for t in finished if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        return ()
    on_front = pareto.nondominated(np.array([t.values for t in complete]), pareto.maximized(objectives))
    return tuple(
        {"number": t.number, "genotype": record_of(t).genotype, **dict(zip(objectives, t.values, strict=True))}
        for t, kept in zip(complete, on_front, strict=True)
        if kept
    )


def trial_resources(search_space: SearchSpace, cluster: dict[str, float]) -> tuple[dict[str, float], int]:
    """Each trial's Tune resources, and how many trials fit on the cluster at once."""
    resources = {"cpu": search_space.resources.cpu}
    slots = int(cluster.get("CPU", 1) // search_space.resources.cpu)
    if search_space.resources.gpu > 0 and cluster.get("GPU", 0) > 0:
        resources["gpu"] = search_space.resources.gpu
        slots = min(slots, int(cluster["GPU"] // search_space.resources.gpu))
    elif search_space.resources.gpu > 0:
        logger.warning("the Ray cluster has no GPU; trials run on CPUs")
    return resources, max(1, slots)


def _start_ray(address: str | None) -> None:
    """Joins the cluster at ``address`` (or ``RAY_ADDRESS``), or starts a new Ray on this machine, keeping the
    caller's SIGTERM handler.

    A Ray started here listens on loopback with token authentication when the command set its environment before
    importing Ray (``nas.search.local_ray``).

    Raises:
        InputError: the cluster at ``address`` (or ``RAY_ADDRESS``) answered but would not let this process join.
    """
    import ray

    on_terminate = signal.getsignal(signal.SIGTERM)
    target = local_ray.ray_address(address)
    try:
        ray.init(
            address=target,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="WARNING",  # type: ignore[arg-type]  # a level name, as Ray's own default "info"; typed int
        )
    except (ConnectionError, ray.exceptions.AuthenticationError) as error:
        if target == local_ray.LOCAL:
            raise
        raise InputError(_join_failure(target, error)) from None
    except SystemExit as stop:
        # While ray.init runs, its own SIGTERM handler exits with the signal's number: stop as on any SIGTERM.
        if stop.code == signal.SIGTERM and on_terminate not in (None, signal.SIG_DFL, signal.SIG_IGN):
            raise KeyboardInterrupt from None
        raise
    if on_terminate is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, on_terminate)  # ray.init replaces it with an abrupt exit


def _join_failure(target: str, error: Exception) -> str:
    """One line on why Ray could not join the cluster at ``target``: Ray's own reason (it wraps the cause of every
    failed join in the same ConnectionError), and the remedy when the reason is authentication."""
    lines = [line.strip() for line in str(error.__cause__ or error).splitlines() if line.strip()]
    about_token = [line for line in lines if "token" in line.lower()]
    if about_token:
        return (
            f"Ray could not join the cluster at {target}: it uses token authentication ({about_token[0][:200]}); "
            "set RAY_AUTH_MODE=token and give this machine the cluster's token (~/.ray/auth_token, "
            "RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH), then run the same command again"
        )
    reason = lines[-1][:200] if lines else type(error).__name__
    return (
        f"Ray could not join the cluster at {target} ({reason}); check that it runs the Ray version this machine "
        "has and is reachable from it, then run the same command again"
    )


def run_trials(
    opened: OpenStudy,
    remaining: int,
    progress: Progress,
    address: str | None,
    trainer: Trainer,
) -> None:
    """Lets Tune run ``remaining`` trials of ``opened.study``: the search's, or designed runs, which only serve
    their enqueued trials."""
    import ray
    from ray import tune

    if not ray.is_initialized():
        _start_ray(address)
    cluster = ray.cluster_resources()
    _record_environment(opened.folder, progress.total, cluster)
    resources, slots = trial_resources(opened.space, cluster)
    store = EvaluationStore(opened.folder, uuid.uuid4().hex, opened.kind)

    def on_record(recorded: FrozenTrial, record: TrialRecord) -> None:
        if record.worker_lost:
            store.release_claims_of(recorded.number)
            store.forget_results_of(recorded.number)
        append_trial_row(opened.csv, recorded)
        progress.record(recorded)

    trainable = tune.with_parameters(_tune_trial, space=opened.space, store=store, trainer=trainer)
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            search_alg=StudySearcher(opened.space, opened.study, on_record, sampled=opened.kind.samples),
            num_samples=remaining,
            # As many trials as fit at once, each asked only when it can start: Tune would otherwise keep one
            # trial pending and, with short trials, run them one at a time on a reused worker.
            max_concurrent_trials=slots,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"run-{timestamp()}",
            storage_path=str(opened.folder.tune_runs),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
            callbacks=[ShowProgress(progress)],
        ),
    )
    tuner.fit()
