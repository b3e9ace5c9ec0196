"""One search trial, as a Ray Tune worker runs it: parameters → genotype → dedup → cost → constraints → training.

A trial never raises: whatever happens is returned as an outcome (``trained``, ``duplicate``, ``infeasible``
or ``failed`` with its reason), so the searcher records every trial and the search goes on. A training's
result is written to the study's evaluation store (``nas.search.store``) before it is reported, so a trial the
driver never heard of (killed search) is not trained again when the search resumes.
"""

from __future__ import annotations

import functools
import json
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from nas.core import counting, genotypes, spaces, training
from nas.core.genotypes import Genotype
from nas.core.spaces import SearchSpace
from nas.search import studies
from nas.search.store import Evaluation

# Trial configuration keys besides the per-depth blocks, added by the searcher.
SEED, NUMBER, RERUN_OF = "seed", "number", "rerun_of"
CONSTRAINT_METRICS = {"max_macs": "macs", "max_params": "params", "max_latency_ms": "latency_ms"}
TRAINING_METRICS = ("psnr", "ssim", "train_seconds", "final_loss", "device", "precision")
RESULT_ONLY = ("outcome", "error", "duplicate_of")  # outcome keys that are not part of a stored evaluation
CLAIM_POLL_S = 0.2

# Called as training.train(genotype, budget, sources, seed, device=..., threads=..., measure_untrained=False).
Trainer = Callable[..., training.TrainResult]


@functools.lru_cache(maxsize=8)
def load_space(path: str) -> SearchSpace:
    """The space a worker runs, read once per worker process (it imports the space's plugins)."""
    return spaces.load(path)


class _TrialLog:
    """Appends timestamped lines to the trial's log file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def write(self, text: str) -> None:
        with self.path.open("a") as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


def constraint_violation(search_space: SearchSpace, measured: dict[str, Any]) -> str | None:
    """Why a genotype is over the space's constraints, or None when it is within them."""
    for constraint, limit in search_space.constraints.items():
        metric = CONSTRAINT_METRICS[constraint]
        if measured[metric] is not None and measured[metric] > limit:
            return f"{metric} {measured[metric]:.4g} exceeds {constraint} {limit:.4g}"
    return None


def run(
    config: dict[str, Any],
    search_space: SearchSpace,
    folder: studies.StudyFolder,
    run_id: str,
    device: str,
    threads: int | None,
    trainer: Trainer = training.train,
) -> dict[str, Any]:
    """Runs one trial of search run ``run_id`` and returns its outcome: metrics, ``outcome`` and ``error``."""
    started = time.perf_counter()
    arch: Genotype = genotypes.from_params(search_space, config)
    number, seed, rerun_of = config[NUMBER], config[SEED], config.get(RERUN_OF)
    log = _TrialLog(folder.trial_log(number))
    log.write(f"trial {number}: {arch} seed {seed} on {device}" + (f" (re-run of {rerun_of})" if rerun_of else ""))
    result: dict[str, Any] = {"genotype": str(arch), "seed": seed, "duplicate_of": None, "error": None}
    evaluation = Evaluation(folder, studies.evaluation_key(search_space, str(arch), seed), number, run_id)
    waited = 0.0
    try:
        while (recorded := evaluation.recorded()) is None:
            holder = evaluation.claim()
            if holder is None:
                try:
                    result.update(_cost_and_train(arch, search_space, seed, device, threads, trainer, log))
                    if result["outcome"] == studies.TRAINED:
                        evaluation.record({k: v for k, v in result.items() if k not in RESULT_ONLY})
                finally:
                    evaluation.release()
                break
            if not waited:
                log.write(f"trial {holder} is training the same genotype and seed; waiting for its result")
            idle_since = time.perf_counter()
            time.sleep(CLAIM_POLL_S)
            waited += time.perf_counter() - idle_since  # as slept: a loaded machine oversleeps
        if recorded is not None and recorded["number"] in (rerun_of, number):
            log.write(f"trial {recorded['number']} trained it before the search was interrupted; result reused")
            result.update(recorded["metrics"], outcome=studies.TRAINED)
        elif recorded is not None:
            log.write(f"duplicate: trial {recorded['number']} trained it with the same budget and seed; reused")
            result.update(recorded["metrics"], outcome=studies.DUPLICATE, duplicate_of=recorded["number"])
            result["train_seconds"] = result["trainer_seconds"] = 0.0
    except training.TrainingFailed as failure:
        result.update(outcome=studies.FAILED, error=str(failure))
    except torch.OutOfMemoryError as failure:
        result.update(outcome=studies.FAILED, error=f"out of memory: {str(failure).splitlines()[0]}")
    except Exception as failure:  # noqa: BLE001 - any fault of a trial is recorded, and the search goes on
        result.update(outcome=studies.FAILED, error=f"{type(failure).__name__}: {failure}")
        log.write(traceback.format_exc())
    # Time spent idle waiting for a concurrent duplicate's result is not this trial's cost.
    result["trial_seconds"] = time.perf_counter() - started - waited
    log.write(f"{result['outcome']}" + (f": {result['error']}" if result["error"] else "") + f" {_summary(result)}")
    return result


def _cost_and_train(
    arch: Genotype,
    search_space: SearchSpace,
    seed: int,
    device: str,
    threads: int | None,
    trainer: Trainer,
    log: _TrialLog,
) -> dict[str, Any]:
    needs_latency = "latency_ms" in search_space.objectives or "max_latency_ms" in search_space.constraints
    measured = counting.network_cost(arch, latency_device=device if needs_latency else None).to_json()
    log.write(f"cost: {json.dumps(measured)}")
    measured.pop("hr_size")
    violation = constraint_violation(search_space, measured)
    if violation is not None:
        return {**measured, "outcome": studies.INFEASIBLE, "error": f"infeasible: {violation}"}
    started = time.perf_counter()
    trained = trainer(
        arch, search_space.proxy, search_space.data, seed, device=device, threads=threads, measure_untrained=False
    )
    trainer_seconds = time.perf_counter() - started  # training and evaluation: the useful part of a trial
    log.write(f"loss curve: {', '.join(f'{v:.4f}' for v in trained.loss_curve)}")
    trained_metrics = {k: getattr(trained, k) for k in TRAINING_METRICS}
    return {**measured, **trained_metrics, "trainer_seconds": trainer_seconds, "outcome": studies.TRAINED}


def _summary(result: dict[str, Any]) -> str:
    shown = {k: result.get(k) for k in ("psnr", "ssim", "macs", "params", "trial_seconds")}
    return json.dumps({k: v for k, v in shown.items() if v is not None})
