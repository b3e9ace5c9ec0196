"""One trial record: what a trial was (genotype, seed, why it ran) and how it ended, in one frozen type.

The record travels from the Ray worker (``to_report``) to the searcher (``from_report``), into the Optuna
storage as user attributes (``to_user_attrs`` / ``from_user_attrs``), and out again as a ``trials.csv`` row and a
report-frame row. Its fields are the only names those places use.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

import optuna

from nas.core import objectives
from nas.core.counting import Cost
from nas.core.objectives import OBJECTIVES, of_constraint
from nas.files import open_appending, write_atomically


class Outcome(str, Enum):
    """How a finished trial ended (stored as its ``outcome`` user attribute)."""

    TRAINED = "trained"  # trained and validated here
    DUPLICATE = "duplicate"  # the same training was recorded by another trial: its result reused
    INFEASIBLE = "infeasible"  # over a cost constraint: counted, never trained
    FAILED = "failed"  # exception, NaN loss, out of memory, or a worker that died twice
    INTERRUPTED = "interrupted"  # the search stopped during it; the trial is run again

    @property
    def has_values(self) -> bool:
        """Whether the trial has objective values (Optuna state COMPLETE)."""
        return self in (Outcome.TRAINED, Outcome.DUPLICATE)

    @property
    def counted(self) -> bool:
        """Whether the trial counts towards a study's trial total (an interrupted one runs again)."""
        return self is not Outcome.INTERRUPTED


# The outcomes of the trials a study's total counts, as stored: a trial count or a curve over trials runs over these.
COUNTED_OUTCOMES = tuple(outcome.value for outcome in Outcome if outcome.counted)


def csv_columns() -> tuple[str, ...]:
    """trials.csv's columns, in order (a stable file format: tools read it): the maximised objectives, SSIM and the
    costs, as the objective registry lists them, among what every trial is."""
    columns = ("number", "state", "outcome", "genotype", *objectives.maximized(), "ssim", *objectives.costs())
    return (*columns, "seed", "duplicate_of", "error", "train_seconds", "arm", "gain_db", "readings")


def readings_text(readings: tuple[dict[str, Any], ...] | None) -> str | None:
    """The readings along a run as trials.csv states them: ``iterations:PSNR`` pairs (``300:37.7795 1000:38.8121``)."""
    return None if not readings else " ".join(f"{r['iterations']}:{r['psnr']:.4f}" for r in readings)


# A finished trial states these even where they do not apply (as None), so readers can rely on the keys.
STATED_WHEN_FINISHED = ("error", "duplicate_of")


@dataclass(frozen=True)
class TrialRecord:
    """Everything the harness knows about one trial; ``None`` where it does not apply or is not known yet.

    Its objective values are fields too, named as the registry names them (``record.psnr``, ``record.macs``): they
    are held in ``values`` and set by name through ``of`` and ``replaced``.
    """

    genotype: str | None = None
    seed: int | None = None
    baseline: str | None = None  # the uniform placement an enqueued baseline trial stands for, e.g. ``uniform:ca``
    arm: str | None = None  # what a designed run (experiment arm, confirmation) stands for, e.g. ``a2b only 0-3``
    rerun_of: int | None = None  # the interrupted trial this one runs again
    outcome: Outcome | None = None
    error: str | None = None
    worker_lost: bool = False  # the worker process died twice: its evaluation claims must be released
    duplicate_of: int | None = None
    duplicate_in: str | None = None  # the study kind of ``duplicate_of`` where it is another study's trial
    ssim: float | None = None
    ops: float | None = None
    train_seconds: float | None = None
    trainer_seconds: float | None = None
    trial_seconds: float | None = None
    final_loss: float | None = None
    device: str | None = None
    precision: str | None = None
    initial_weights: str | None = None  # how the training drew its initial weights (``nas.core.initial_weights``)
    inherited_share: float | None = None  # the share of parameters inherited from the space's parent (proxy.init)
    fresh_modules: tuple[str, ...] | None = None  # the modules the parent did not give their weights
    psnr_bicubic: float | None = None  # bicubic upsampling of the validation images: the floor a network must beat
    readings: tuple[dict[str, Any], ...] | None = None  # the scores along the run (``training.Reading``), last at end
    node: str | None = None
    values: Mapping[str, float | None] = field(default_factory=dict)  # each objective's value, by its name

    @property
    def gain_db(self) -> float | None:
        """PSNR over bicubic upsampling of the validation images (None: not trained, or the floor not recorded)."""
        psnr = self.values.get("psnr")
        return None if psnr is None or self.psnr_bicubic is None else psnr - self.psnr_bicubic

    def __getattr__(self, name: str) -> Any:
        """An objective's value as a field (None when not set); only called for names that are no field."""
        if name != "values" and name in OBJECTIVES:
            return self.values.get(name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def of(cls, **named: Any) -> TrialRecord:
        """A record of ``named`` fields, objective values among them."""
        return cls().replaced(**named)

    def replaced(self, **named: Any) -> TrialRecord:
        """The record with ``named`` fields replaced, objective values among them."""
        values = {k: v for k, v in named.items() if k in OBJECTIVES}
        others = {k: v for k, v in named.items() if k not in OBJECTIVES}
        return replace(self, **others, values={**self.values, **values})

    def to_user_attrs(self) -> dict[str, Any]:
        """The record as Optuna user attributes: JSON values, each objective's under its name; fields that are not
        set are left out, except the ones a finished trial always states."""
        named = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "values"}
        attrs = {}
        for key, value in {**named, **self.values}.items():
            if isinstance(value, Enum):
                value = value.value
            if (value is not None and value is not False) or (self.outcome and key in STATED_WHEN_FINISHED):
                attrs[key] = value
        return attrs

    @classmethod
    def from_user_attrs(cls, attrs: dict[str, Any]) -> TrialRecord:
        known = {f.name for f in fields(cls)} - {"values"}
        named = {k: v for k, v in attrs.items() if k in known}
        if "outcome" in named:
            named["outcome"] = Outcome(named["outcome"])
        for listed in ("fresh_modules", "readings"):  # JSON lists in Optuna's attributes
            if named.get(listed) is not None:
                named[listed] = tuple(named[listed])
        return cls(**named, values={k: v for k, v in attrs.items() if k in OBJECTIVES})

    def to_report(self) -> dict[str, Any]:
        """What a Tune worker reports: the record's attributes, read back by ``from_report`` (the search's trainable
        adds a None for each objective the record lacks: Tune wants every metric key, even in a failure)."""
        return self.to_user_attrs()

    @classmethod
    def from_report(cls, result: dict[str, Any]) -> TrialRecord:
        return cls.from_user_attrs(result)

    def with_values_checked(self, objectives: tuple[str, ...]) -> TrialRecord:
        """The record, turned into a failure when it claims values and one objective is missing or not finite."""
        if self.outcome is None or not self.outcome.has_values:
            return self
        values = self.objective_values(objectives)
        if all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            return self
        return replace(self, outcome=Outcome.FAILED, error=f"non-finite objective values {values}")

    def objective_values(self, names: tuple[str, ...]) -> list[Any]:
        return [self.values.get(name) for name in names]

    @classmethod
    def of_cost(cls, cost: Cost) -> TrialRecord:
        """A record of a counted (and perhaps timed) cost, before any training: every objective the cost gives."""
        return cls.of(ops=cost.ops, **{name: getattr(cost, name) for name in objectives.of_source("cost")})

    def constraint_violation(self, constraints: dict[str, float]) -> str | None:
        """Why the measured cost is over ``constraints`` (``max_macs``...), or None when it is within them."""
        for constraint, limit in constraints.items():
            cost = of_constraint(constraint).name
            value = self.values.get(cost)
            if value is not None and value > limit:
                return f"{cost} {value:.4g} exceeds {constraint} {limit:.4g}"
        return None


def record_of(trial: optuna.trial.FrozenTrial) -> TrialRecord:
    return TrialRecord.from_user_attrs(trial.user_attrs)


def counted(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts towards a study's total: finished, and not cut short by an interruption."""
    outcome = record_of(trial).outcome
    return trial.state.is_finished() and (outcome is None or outcome.counted)


def csv_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The trials.csv row of a stored trial."""
    record = record_of(trial)
    attrs = {**record.to_user_attrs(), "gain_db": record.gain_db, "readings": readings_text(record.readings)}
    row = {column: attrs.get(column) for column in csv_columns()}
    row["number"] = trial.number
    row["state"] = trial.state.name
    return row


def frame_row(trial: optuna.trial.FrozenTrial) -> dict[str, Any]:
    """The report-frame row of a stored trial: its csv row, baseline label, device and precision, per-depth blocks."""
    record = record_of(trial)
    row = csv_row(trial)
    row["baseline"] = record.baseline
    row["device"] = f"{record.device} ({record.precision})" if record.device else None
    if not trial.state.is_finished():
        row["outcome"] = trial.state.name.lower()  # running or waiting
    row.update(trial.params)
    return row


def write_trials_csv(path: Path, study: optuna.Study) -> None:
    """Writes a study's finished trials to ``path``, one row each (``trials.csv``, ``trials-<kind>.csv``)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=csv_columns())
    writer.writeheader()
    writer.writerows(csv_row(t) for t in study.get_trials(deepcopy=False) if t.state.is_finished())
    write_atomically(path, text.getvalue())


def append_trial_row(path: Path, trial: optuna.trial.FrozenTrial) -> None:
    """Appends the row of one finished trial to the CSV ``write_trials_csv`` wrote."""
    with open_appending(path) as handle:
        csv.DictWriter(handle, fieldnames=csv_columns()).writerow(csv_row(trial))
