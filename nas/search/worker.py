"""One search trial, as a Ray Tune worker runs it: parameters → genotype → dedup → cost → constraints → training.

A trial never raises: whatever happens is returned as a ``TrialRecord`` (``trained``, ``duplicate``,
``infeasible`` or ``failed`` with its reason), so the searcher records every trial and the search goes on. A
training's result is written to the study's evaluation store (``nas.search.store``) before it is reported, so a
trial the driver never heard of (killed search) is not trained again when the search resumes.
"""

from __future__ import annotations

import json
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import torch

from nas.core import counting, objectives, training
from nas.core.genotypes import Genotype
from nas.core.spaces import SearchSpace
from nas.files import open_appending, refuse_links
from nas.search.store import EvaluationStore, evaluation_key
from nas.study.records import Outcome, TrialRecord
from nas.trained import parents

# Trial configuration keys besides the per-depth blocks, added by the searcher.
GENOTYPE, SEED, NUMBER, RERUN_OF = "genotype", "seed", "number", "rerun_of"
# What a trial records of its training besides the objectives the training gives (``objectives.of_source``).
TRAINING_FIELDS = (
    "ssim", "train_seconds", "final_loss", "device", "precision", "initial_weights", "inherited_share", "fresh_modules",
    "psnr_bicubic",
)  # fmt: skip

# Called as training.train(genotype, budget, sources, seed, device=..., threads=..., measure_untrained=False,
# parent=...).
Trainer = Callable[..., training.TrainResult]


class TrialLog:
    """Appends timestamped lines to the trial's log file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        refuse_links(path.parent)  # a linked logs folder would take every trial's log out of the study
        self.path = path

    def write(self, text: str) -> None:
        with open_appending(self.path) as handle:
            handle.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")


@dataclass(frozen=True)
class TrialContext:
    """Where and how a worker runs its trials: the study's pinned space and store, the device, the trainer."""

    space: SearchSpace
    store: EvaluationStore
    device: str
    threads: int | None
    trainer: Trainer = training.train


def run(config: dict[str, Any], context: TrialContext) -> TrialRecord:
    """Runs one trial and returns its record: metrics, outcome and, for a failure, the reason."""
    started = time.perf_counter()
    space = context.space
    number, seed, rerun_of = config[NUMBER], config[SEED], config.get(RERUN_OF)
    log = TrialLog(context.store.folder.trial_log(number, context.store.kind))
    log.write(
        f"trial {number}: {config[GENOTYPE]} seed {seed} on {context.device}"
        + (f" (re-run of {rerun_of})" if rerun_of else "")
    )
    record = TrialRecord(genotype=config[GENOTYPE], seed=seed)
    waited = 0.0
    try:
        # Inside the try: a genotype that does not parse here (a plugin's block name) is the trial's failure, with
        # its reason recorded, not a worker that dies and is retried.
        arch = Genotype.parse(config[GENOTYPE])
        shared = context.store.once(
            evaluation_key(str(arch), seed, space.proxy, space.data),
            number,
            compute=lambda: _cost_and_train(arch, seed, context, log).to_user_attrs(),
            keep=lambda value: TrialRecord.from_user_attrs(value).outcome is Outcome.TRAINED,
            rerun_of=rerun_of,
            log=log.write,
        )
        waited = shared.waited_seconds
        record = replace(TrialRecord.from_user_attrs(shared.value), genotype=str(arch), seed=seed)
        if shared.duplicate_of is not None:
            record = replace(
                record, outcome=Outcome.DUPLICATE, duplicate_of=shared.duplicate_of, duplicate_in=shared.duplicate_in,
                train_seconds=0.0, trainer_seconds=0.0,
            )  # fmt: skip
    except training.TrainingFailed as failure:
        record = replace(record, outcome=Outcome.FAILED, error=str(failure))
    except torch.OutOfMemoryError as failure:
        record = replace(record, outcome=Outcome.FAILED, error=f"out of memory: {str(failure).splitlines()[0]}")
    except Exception as failure:  # noqa: BLE001 - any fault of a trial is recorded, and the search goes on
        record = replace(record, outcome=Outcome.FAILED, error=f"{type(failure).__name__}: {failure}")
        log.write(traceback.format_exc())
    # Time spent idle waiting for a concurrent duplicate's result is not this trial's cost.
    record = replace(record, trial_seconds=time.perf_counter() - started - waited)
    assert record.outcome is not None  # set by _cost_and_train, by the kept (trained) result or by the except above
    log.write(f"{record.outcome.value}" + (f": {record.error}" if record.error else "") + f" {_summary(record)}")
    return record


def _cost_and_train(arch: Genotype, seed: int, context: TrialContext, log: TrialLog) -> TrialRecord:
    space = context.space
    needs_latency = space.uses("latency_ms")
    measured = counting.network_cost(arch, latency_device=context.device if needs_latency else None)
    log.write(f"cost: {json.dumps(measured.to_json())}")
    costed = TrialRecord.of_cost(measured)
    violation = costed.constraint_violation(dict(space.constraints))
    if violation is not None:
        return replace(costed, outcome=Outcome.INFEASIBLE, error=f"infeasible: {violation}")
    started = time.perf_counter()
    trained = context.trainer(
        arch, space.proxy, space.data, seed, device=context.device, threads=context.threads, measure_untrained=False,
        parent=parents.network(space),
    )  # fmt: skip
    trainer_seconds = time.perf_counter() - started  # training and evaluation: the useful part of a trial
    log.write(f"loss curve: {', '.join(f'{v:.4f}' for v in trained.loss_curve)}")
    if trained.inherited_share is not None:
        fresh = ", ".join(trained.fresh_modules or ()) or "none"
        log.write(f"inherited {trained.inherited_share:.1%} of the parameters from proxy.init; fresh modules: {fresh}")
    metrics = {field: getattr(trained, field) for field in (*objectives.of_source("training"), *TRAINING_FIELDS)}
    readings = tuple(asdict(reading) for reading in trained.readings)
    return costed.replaced(**metrics, readings=readings, trainer_seconds=trainer_seconds, outcome=Outcome.TRAINED)


def _summary(record: TrialRecord) -> str:
    shown = {k: getattr(record, k) for k in (*objectives.maximized(), "ssim", *objectives.costs(), "trial_seconds")}
    return json.dumps({k: v for k, v in shown.items() if v is not None})
