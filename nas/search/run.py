"""``nas search``: Ray Tune runs the trials, Optuna decides them, the study folder keeps everything.

A search opens (or creates) the study in ``DIR/<space name>/``, recovers trials a killed run left in flight
(recorded ``interrupted`` and enqueued again), enqueues the uniform placements on a new study, and lets Tune
run trials until the study holds ``--trials`` finished ones. Ray starts locally on demand, or joins the
cluster at ``--address``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from nas.core import genotypes, pareto, training
from nas.core.spaces import SearchSpace, load
from nas.search import studies, worker
from nas.search.searcher import WORKER_DIED, StudySearcher, directions, grid_trials
from nas.search.store import release_claims_of
from nas.search.studies import StoredStudy, StudyError, StudyFolder

PROGRESS_INTERVAL_S = 1.0


@dataclass(frozen=True)
class SearchSummary:
    folder: Path
    finished: int
    trained: int
    duplicates: int
    infeasible: int
    failed: int
    front: int
    interrupted: bool


def baseline_genotypes(search_space: SearchSpace) -> list[tuple[str, genotypes.Genotype]]:
    """The uniform placements: all ``none``, then all X for every block X of the space (distinct ones)."""
    names = ["none", *[b for b in search_space.all_blocks() if b != "none"]]
    placements: dict[genotypes.Genotype, str] = {}
    for block in names:
        if block == "none" and "none" not in search_space.all_blocks():
            continue
        placements.setdefault(genotypes.uniform(search_space, block), f"uniform:{block}")
    return [(label, arch) for arch, label in placements.items()]


def _timestamp() -> str:
    """The local time, compact and sortable: names of shared-database studies, moved folders and Tune runs."""
    return time.strftime("%Y%m%dT%H%M%S")


def _create(folder: StudyFolder, search_space: SearchSpace, space_path: Path, storage_url: str) -> StoredStudy:
    folder.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(space_path, folder.space_file)
    # The folder's own journal holds one study; a shared database gets a unique name per study.
    name = search_space.name if storage_url == studies.JOURNAL else f"{search_space.name}-{_timestamp()}"
    storage = studies.open_storage(folder, storage_url)
    created = optuna.create_study(
        storage=storage, study_name=name,
        directions=directions(search_space.objectives),
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        created.set_metric_names(list(search_space.objectives))  # shown by the dashboard
    for label, arch in baseline_genotypes(search_space):
        for seed in search_space.proxy.seeds:
            created.enqueue_trial(genotypes.to_params(arch), user_attrs={worker.SEED: seed, "baseline": label})
    studies.write_atomically(folder.study_record, json.dumps({"storage": storage_url, "study_name": name}))
    return created, storage


def _reopen(folder: StudyFolder, space_path: Path, storage_url: str | None) -> StoredStudy:
    recorded_url, _ = folder.storage_and_name()
    if storage_url is not None and storage_url != recorded_url:
        raise StudyError(
            f"{folder.root}: this study is stored in {recorded_url!r}, not {storage_url!r}; drop --storage to "
            "resume it, or add --fresh to start a new study"
        )
    if folder.space_file.read_bytes() != space_path.read_bytes():
        raise StudyError(
            f"{space_path}: differs from the space this study ran with ({folder.space_file}); add --fresh to start "
            "a new study (the old folder is kept), or pass another --results folder"
        )
    reopened, storage = studies.load_stored_study(folder)
    _requeue_interrupted(reopened, storage)
    return reopened, storage


def _requeue_interrupted(reopened: optuna.Study, storage: optuna.storages.BaseStorage) -> None:
    """Trials a killed search left RUNNING: recorded FAIL (``interrupted``) and enqueued to run again."""
    study_id = storage.get_study_id_from_name(reopened.study_name)
    for stale in reopened.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, stale.number)
        storage.set_trial_user_attr(trial_id, "outcome", studies.INTERRUPTED)
        storage.set_trial_user_attr(trial_id, "error", "interrupted: the search stopped during this trial")
        reopened.tell(stale.number, state=TrialState.FAIL)
        attrs = {k: v for k, v in stale.user_attrs.items() if k in (worker.SEED, "baseline")}
        reopened.enqueue_trial(stale.params, user_attrs={**attrs, worker.RERUN_OF: stale.number})


def counted(trial_: FrozenTrial) -> bool:
    """Whether a trial counts towards ``--trials``: finished, and not cut short by an interruption."""
    return trial_.state.is_finished() and trial_.user_attrs.get("outcome") != studies.INTERRUPTED


def open_study(
    folder: StudyFolder, search_space: SearchSpace, space_path: Path, storage_url: str | None, fresh: bool
) -> StoredStudy:
    """The folder's study: resumed, or created with its baselines (``fresh`` moves an existing folder aside)."""
    if fresh and folder.root.exists():
        kept = folder.root.with_name(f"{folder.root.name}.{_timestamp()}")
        folder.root.rename(kept)
        print(f"nas search: the previous study was moved to {kept}", file=sys.stderr)
    if folder.exists():
        return _reopen(folder, space_path, storage_url)
    return _create(folder, search_space, space_path, storage_url or studies.JOURNAL)


class Progress:
    """Counts trial outcomes and prints the search's progress: a live line on a terminal, plain lines otherwise."""

    def __init__(self, existing: list[FrozenTrial], search_space: SearchSpace, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.interactive = stream.isatty()
        self.maximize = pareto.maximized(search_space.objectives)
        self.outcomes: dict[str, int] = {}
        self.values: list[list[float]] = []
        self.started = time.monotonic()
        self.running = 0
        self.last_print = 0.0
        for finished in existing:
            if counted(finished):
                self._count(finished)
        self.finished_at_start = self.finished

    @property
    def finished(self) -> int:
        return sum(self.outcomes.values())

    def _count(self, finished: FrozenTrial) -> None:
        outcome = finished.user_attrs.get("outcome", studies.FAILED)
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1
        if finished.state == TrialState.COMPLETE:
            self.values.append(list(finished.values))

    def record(self, finished: FrozenTrial) -> None:
        self._count(finished)
        if not self.interactive:
            self.show(force=True)

    def front_size(self) -> int:
        return int(pareto.nondominated(np.array(self.values), self.maximize).sum()) if self.values else 0

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        done_now = self.finished - self.finished_at_start
        left = max(0, self.total - self.finished)
        eta = _duration(elapsed / done_now * left) if done_now else "?"
        best = f"{max(v[0] for v in self.values):.3f} dB" if self.values else "-"
        o = self.outcomes
        return (
            f"{self.finished}/{self.total} done ({o.get(studies.FAILED, 0)} failed, {o.get(studies.INFEASIBLE, 0)} "
            f"infeasible, {o.get(studies.DUPLICATE, 0)} duplicates), {self.running} running | best PSNR {best} | "
            f"front {self.front_size()} | {_duration(elapsed)} elapsed, ETA {eta}"
        )

    def show(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and (not self.interactive or now - self.last_print < PROGRESS_INTERVAL_S):
            return  # plain output: one line per finished trial
        self.last_print = now
        if self.interactive:
            self.stream.write("\r\033[K" + self.line())
        else:
            self.stream.write(self.line() + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _tune_trial(config: dict[str, Any], space_path: str, study_root: str, run_id: str, trainer: worker.Trainer) -> None:
    """The Tune function trainable: one trial on this worker's device, one report."""
    import ray
    from ray import tune

    search_space = worker.load_space(space_path)
    device = "cuda" if ray.get_gpu_ids() else "cpu"
    threads = max(1, int(search_space.resources.cpu)) if device == "cpu" else None
    outcome = worker.run(config, search_space, StudyFolder(Path(study_root)), run_id, device, threads, trainer)
    objectives = dict.fromkeys(search_space.objectives)  # Tune wants every metric key, even in a failure
    tune.report({**objectives, **outcome, "node": ray.get_runtime_context().get_node_id()})


def _record_environment(folder: StudyFolder, requested: int, cluster: dict[str, float]) -> None:
    """Appends this run (time, trials asked, Ray cluster, driver machine) to environment.json."""
    runs = folder.environment_runs()
    runs.append({
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "trials": requested, "ray_cluster": cluster,
        **studies.environment(),
    })  # fmt: skip
    studies.write_atomically(folder.environment_file, json.dumps(runs, indent=2) + "\n")


def search(
    space_path: str | Path,
    trials: int | None = None,
    results: str | Path = "results",
    storage: str | None = None,
    address: str | None = None,
    fresh: bool = False,
    trainer: worker.Trainer = training.train,
    stream: TextIO = sys.stderr,
) -> SearchSummary:
    """Runs (or resumes) the study of ``space_path`` until it holds ``trials`` finished trials.

    Raises:
        SpaceError, StudyError: bad space file, or a study folder that cannot be resumed as asked.
    """
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # the progress line says what happens
    space_path = Path(space_path).resolve()
    search_space = load(space_path)
    folder = StudyFolder(Path(results).resolve() / search_space.name)
    total = trials or search_space.search.trials
    if search_space.search.sampler == "grid":
        grid_total = grid_trials(search_space, len(baseline_genotypes(search_space)) * len(search_space.proxy.seeds))
        if total > grid_total:
            stream.write(f"nas search: the grid is covered by {grid_total} trials; running {grid_total}\n")
            total = grid_total
    current, current_storage = open_study(folder, search_space, space_path, storage, fresh)
    studies.write_trials_csv(folder, current)
    progress = Progress(current.get_trials(deepcopy=False), search_space, total, stream)
    remaining = total - progress.finished
    if remaining > 0:
        _run_trials(
            folder, search_space, space_path, current, current_storage, remaining, progress, address, trainer, stream
        )
    studies.write_trials_csv(folder, current)
    finished = [t for t in current.get_trials(deepcopy=False) if counted(t)]
    outcomes = [t.user_attrs.get("outcome") for t in finished]
    summary = SearchSummary(
        folder=folder.root,
        finished=len(finished),
        trained=outcomes.count(studies.TRAINED),
        duplicates=outcomes.count(studies.DUPLICATE),
        infeasible=outcomes.count(studies.INFEASIBLE),
        failed=outcomes.count(studies.FAILED),
        front=progress.front_size(),
        interrupted=len(finished) < total,
    )
    if progress.interactive:
        stream.write("\n")
    return summary


def _run_trials(
    folder: StudyFolder,
    search_space: SearchSpace,
    space_path: Path,
    current: optuna.Study,
    storage: optuna.storages.BaseStorage,
    remaining: int,
    progress: Progress,
    address: str | None,
    trainer: worker.Trainer,
    stream: TextIO,
) -> None:
    # Tune's per-trial CSV/JSON/TensorBoard files duplicate the study folder's logs; skip writing them. Tune's
    # legacy output engine stays silent at verbose=0, so the progress line is the only output.
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    import ray
    from ray import tune

    # Without those files Tune's end-of-run summary warns that it found no metrics; the study has them. On
    # Ctrl-C Tune suggests Tuner.restore; a search resumes from its study instead, as `nas search` says.
    logging.getLogger("ray.tune.analysis.experiment_analysis").setLevel(logging.ERROR)
    logging.getLogger("ray.tune.tune").setLevel(logging.ERROR)
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    cluster = ray.cluster_resources()
    _record_environment(folder, progress.total, cluster)
    resources = {"cpu": search_space.resources.cpu}
    slots = int(cluster.get("CPU", 1) // search_space.resources.cpu)
    if search_space.resources.gpu > 0 and cluster.get("GPU", 0) > 0:
        resources["gpu"] = search_space.resources.gpu
        slots = min(slots, int(cluster["GPU"] // search_space.resources.gpu))
    elif search_space.resources.gpu > 0:
        stream.write("nas search: the Ray cluster has no GPU; trials run on CPUs\n")

    run_id = uuid.uuid4().hex

    def on_record(recorded: FrozenTrial) -> None:
        if recorded.user_attrs.get("error") == WORKER_DIED:
            release_claims_of(folder, run_id, recorded.number)
        studies.append_trial_row(folder, recorded)
        progress.record(recorded)

    class ShowProgress(tune.Callback):
        def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
            progress.running = sum(t.status == "RUNNING" for t in trials)
            progress.show()

    trainable = tune.with_parameters(
        _tune_trial, space_path=str(space_path), study_root=str(folder.root), run_id=run_id, trainer=trainer
    )
    tuner = tune.Tuner(
        tune.with_resources(trainable, resources),
        tune_config=tune.TuneConfig(
            search_alg=StudySearcher(search_space, storage, current.study_name, on_record),
            num_samples=remaining,
            # As many trials as fit at once, each asked only when it can start: Tune would otherwise keep one
            # trial pending and, with short trials, run them one at a time on a reused worker.
            max_concurrent_trials=max(1, slots),
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(
            name=f"run-{_timestamp()}",
            storage_path=str(folder.root / "tune"),
            failure_config=tune.FailureConfig(max_failures=1),
            verbose=0,
            callbacks=[ShowProgress()],
        ),
    )
    tuner.fit()
