"""``nas experiment``: the space's designed experiment, every arm trained with every seed, as designed runs.

The arms come from the space's ``experiment:`` section (``nas.core.experiment_design.make_design``); they are
trained in a seeded random order as a study of their own in the space's study folder (``nas.search.designed``), with
the search's dedup (an arm already trained with that seed and budget is reused), fault recording, resume after
kill -9 and progress line. ``plan`` says, before anything is trained, what the experiment will run and how long it
will take.
"""

from __future__ import annotations

import dataclasses
import math
import os
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import torch

from nas import devices, paths
from nas.core import counting, networks, spaces, training
from nas.core.experiment_design import Arm, ExperimentDesign, ExperimentError
from nas.core.genotypes import Genotype
from nas.core.objectives import of_constraint
from nas.core.pinned_spaces import pinned_path
from nas.core.power import POWER, FamilyPower, PlannedPower, seeds_text
from nas.core.spaces import SearchSpace, SpaceError
from nas.search import designed, preflight, run
from nas.search.designed import DesignedResult, DesignedRun
from nas.search.run import RunSettings
from nas.search.worker import Trainer
from nas.sr import data, evaluate
from nas.study import lifecycle
from nas.study.folder import Kind, StudyError, StudyFolder, folder_of
from nas.study.records import Outcome, TrialRecord, record_of
from nas.study.storage import load_designed, load_study
from nas.trained import parents

TIMED_ITERATIONS = 10  # iterations timed (after WARMUP_ITERATIONS) when the study has no recorded training time
WARMUP_ITERATIONS = 5  # the first iterations pay for allocation and kernel selection


@dataclass(frozen=True)
class ExperimentRuns:
    folder: StudyFolder
    space: SearchSpace  # the study's pinned space, with its experiment section
    design: ExperimentDesign
    runs: tuple[DesignedRun, ...]

    @property
    def arms(self) -> tuple[Arm, ...]:
        return self.design.arms

    @property
    def attributes(self) -> Mapping[str, Any]:
        return {}  # the space's experiment section, pinned with the study, says everything

    def describe(self) -> str:
        return f"experiment of {self.folder.root}: {len(self.arms)} arms × seeds {list(self.design.seeds)}"

    def to_json(self) -> dict[str, Any]:
        return {"study": str(self.folder.root), "arms": len(self.arms), "seeds": list(self.design.seeds)}


def _given(space_path: Path) -> tuple[SearchSpace, ExperimentDesign]:
    """The space file's space and its experiment's design.

    Raises:
        SpaceError: the file is invalid, has no ``experiment:`` section, one that cannot be built, or a parent
            (``proxy.init``) that cannot be used.
    """
    given = spaces.load(space_path)
    if given.experiment is None:
        raise SpaceError(
            f"{space_path}: no experiment: section; add one (blocks, groups, seeds, margin_db, control: see "
            "search_spaces/README.md) to say which arms to train"
        )
    try:
        design = parents.design_of(given)  # a parent that cannot be used stops before anything is planned or written
    except ExperimentError as error:  # the section's values each passed, but not together
        raise SpaceError(f"{space_path}: experiment: {error}") from None
    assert design is not None  # the section is there
    return given, design


def blocked_arms(space: SearchSpace, design: ExperimentDesign) -> list[tuple[Arm, str]]:
    """The arms a trial would record infeasible (over one of the space's counted-cost constraints), and why:
    they are never trained, so an experiment holding them can never be analysed."""
    counted = {key: limit for key, limit in space.constraints.items() if of_constraint(key).counted}
    blocked = []
    for arm in design.arms:
        violation = TrialRecord.of_cost(counting.network_cost(Genotype.parse(arm.genotype))).constraint_violation(
            counted
        )
        if violation is not None:
            blocked.append((arm, violation))
    return blocked


def _check_runnable(space_path: Path, space: SearchSpace, design: ExperimentDesign) -> None:
    blocked = blocked_arms(space, design)
    if blocked:
        arms = "; ".join(f"{arm.label}: {reason}" for arm, reason in blocked)
        raise SpaceError(
            f"{space_path}: {len(blocked)} arm(s) of the experiment are over the space's constraints and would never "
            f"be trained ({arms}); raise or remove those constraints, or drop the blocks or groups of those arms from "
            "experiment:, in a space file with a study folder of its own (nas experiment --plan lists the arms)"
        )


def _with_runs(folder: StudyFolder, space: SearchSpace) -> ExperimentRuns:
    design = parents.design_of(space)
    if design is None:  # the given file has one (``_given``), and the pinned space is that file's
        raise StudyError(
            f"{folder.pinned_space}: the study's pinned space has no experiment: section; pass another --results "
            "folder, or move this study folder aside"
        )
    return _runs(folder, space, design)


def _runs(folder: StudyFolder, space: SearchSpace, design: ExperimentDesign) -> ExperimentRuns:
    runs = tuple(DesignedRun(arm.genotype, seed, arm.label) for arm in design.arms for seed in design.seeds)
    return ExperimentRuns(folder, space, design, runs)


def prepare(space_path: str | Path, settings: RunSettings) -> ExperimentRuns:
    """The experiment's runs, as its study folder will train them; nothing is written (``--plan``).

    Raises:
        SpaceError: the file has no ``experiment:`` section, or is invalid.
        StudyError: the study folder was created with another space file.
    """
    space_path = paths.resolved(paths.not_empty(space_path, "--space", "search_spaces/sr_tiny.yaml"), "--space")
    given, design = _given(space_path)
    folder = folder_of(settings.results, given)
    if not folder.exists():
        return _runs(folder, given, design)
    folder.require_space_file(space_path)
    return _with_runs(folder, folder.space())


def run_experiment(
    space_path: str | Path, settings: RunSettings, trainer: Trainer = training.train, stream: TextIO | None = None
) -> DesignedResult:
    """Trains every run of the space's experiment that its study folder (created if needed) does not hold yet;
    ``stream`` (default: stderr as it is at the call) takes the progress line.

    Raises:
        SpaceError, StudyError: as ``prepare``; or another process is running on the study folder.
    """
    space_path = paths.resolved(paths.not_empty(space_path, "--space", "search_spaces/sr_tiny.yaml"), "--space")
    given, design = _given(space_path)
    _check_runnable(space_path, given, design)
    folder = folder_of(settings.results, given)
    preflight.check_results(folder.root.parent, folder.root)

    def plan() -> ExperimentRuns:  # the search study is created with the folder, as by ``nas search``
        return _with_runs(folder, lifecycle.open_study(folder, given, space_path, settings.storage).space)

    progress = sys.stderr if stream is None else stream
    return designed.train_designed(folder, Kind.EXPERIMENT, plan, settings.address, trainer, progress)


def runs_left(prepared: ExperimentRuns) -> list[DesignedRun]:
    """The experiment's runs its study does not hold yet (all of them before its first run)."""
    study = load_designed(prepared.folder, Kind.EXPERIMENT) if prepared.folder.exists() else None
    held = designed.held_runs(study) if study is not None else set()
    return [run for run in prepared.runs if run not in held]


@dataclass(frozen=True)
class TimeEstimate:
    seconds: float  # wall time of the runs still to train
    per_run_seconds: float
    parallel: int  # runs trained at once
    source: str  # how the per-run time was obtained


def estimate_time(prepared: ExperimentRuns, remaining: int) -> TimeEstimate:
    """Wall time of ``remaining`` runs: from the study's recorded training times, or from timed iterations."""
    recorded = _recorded_seconds(prepared.folder)
    if recorded:
        per_run = statistics.median(recorded)
        source = f"median training time of the study's {len(recorded)} trained trials"
    else:
        per_run, source = _timed_run_seconds(prepared)
    machine = {"CPU": float(os.cpu_count() or 1), "GPU": float(torch.cuda.device_count())}
    _, parallel = run.trial_resources(prepared.space, machine)
    return TimeEstimate(per_run * math.ceil(remaining / parallel), per_run, parallel, source)


def _recorded_seconds(folder: StudyFolder) -> list[float]:
    """Trial seconds of every trained trial of the folder (search and experiment) with this budget."""
    seconds = []
    if not folder.exists():
        return []
    for study in (load_study(folder), load_designed(folder, Kind.EXPERIMENT)):
        for trial in study.get_trials(deepcopy=False) if study is not None else []:
            record = record_of(trial)
            if record.outcome is Outcome.TRAINED and record.trial_seconds:
                seconds.append(record.trial_seconds)
    return seconds


def _timed_run_seconds(prepared: ExperimentRuns) -> tuple[float, str]:
    """Seconds of one run of the arm with the most parameters, as a worker runs it: a few timed iterations and one
    timed validation on each validation source, at the threads a trial gets (``run.trial_threads``), the
    validation once per reading."""
    arch = max((Genotype.parse(arm.genotype) for arm in prepared.arms), key=_parameters)
    space = prepared.space
    budget, device = space.proxy, devices.default_device()
    threads = torch.get_num_threads()
    timed_threads = run.trial_threads(space, device) or threads
    torch.set_num_threads(timed_threads)
    try:
        step = training.ProxyStep(training.build_network(arch, 0, device), arch, space.data.train, 0, device, budget)
        for _ in range(WARMUP_ITERATIONS):
            step()
        started = time.perf_counter()
        for _ in range(TIMED_ITERATIONS):
            step()
        per_iteration = (time.perf_counter() - started) / TIMED_ITERATIONS
        started = time.perf_counter()
        for source in (space.data.val, *space.data.also_val):
            evaluate.evaluate(step.network, data.source_pairs(source, "val", arch.scale), arch.scale, device)
        per_reading = time.perf_counter() - started
    finally:
        torch.set_num_threads(threads)
    readings = len(budget.readings())
    source = (f"{TIMED_ITERATIONS} timed iterations of `{arch}` on {device} with {timed_threads} thread(s) × "
              f"{budget.iterations}, and {readings} validation(s) of {per_reading:.1f} s")  # fmt: skip
    return per_iteration * budget.iterations + per_reading * readings, source


def _parameters(arch: Genotype) -> int:
    return sum(p.numel() for p in networks.build(arch).parameters())


@dataclass(frozen=True)
class ExperimentPlan:
    prepared: ExperimentRuns
    runs_left: int  # runs the study does not hold yet
    time: TimeEstimate
    power: PlannedPower
    blocked: tuple[tuple[str, str], ...] = ()  # (arm label, why it can never be trained)
    gains: Mapping[str, float] = dataclasses.field(default_factory=dict)  # genotype → mean gain of its runs so far

    interrupted = False  # a plan trains nothing
    kind = Kind.EXPERIMENT

    def to_json(self) -> dict[str, Any]:
        settings, time, power = self.prepared.design, self.time, self.power
        return {
            "study": str(self.prepared.folder.root),
            "arms": [{"label": arm.label, "genotype": arm.genotype, "gain_db": self.gains.get(arm.genotype)}
                     for arm in self.prepared.arms],
            "readings": list(self.prepared.space.proxy.readings()),
            "min_gain_db": self.prepared.space.proxy.min_gain_db,
            "seeds": list(settings.seeds), "runs": len(self.prepared.runs), "runs_left": self.runs_left,
            "estimated_seconds": time.seconds, "per_run_seconds": time.per_run_seconds, "parallel": time.parallel,
            "time_source": time.source, "contrasts": power.contrasts, "margin_db": settings.margin_db,
            "families": [dataclasses.asdict(family) for family in power.families], "power_basis": power.basis,
            "alpha": settings.alpha,
            "capacity_matches": dict(settings.matches),
            "control_gaps": [{"block": g.block, "control": g.control, "reason": g.reason} for g in settings.gaps],
            "blocked_arms": [{"arm": label, "reason": reason} for label, reason in self.blocked],
        }  # fmt: skip

    def to_text(self) -> str:
        design, time, power = self.prepared.design, self.time, self.power
        seeds, budget = len(design.seeds), self.prepared.space.proxy
        return "\n".join([
            f"experiment plan for {pinned_path(str(self.prepared.folder.root))} (nothing is trained)",
            *(f"  arm {arm.label:<28} {arm.genotype}  {self._gain_text(arm.genotype)}" for arm in self.prepared.arms),
            f"budget          {budget.iterations} iterations, read at {', '.join(map(str, budget.readings()))}; no "
            f"verdict is drawn from arms under {budget.min_gain_db:+g} dB over bicubic upsampling (proxy.min_gain_db)",
            *(f"capacity        {text}" for _, text in design.matches),
            *(f"no control      {gap.control} control for {gap.block}: {gap.reason}" for gap in design.gaps),
            *(f"cannot run      {label}: {reason} (nas experiment refuses to start)" for label, reason in self.blocked),
            f"runs            {len(self.prepared.arms)} arms × {seeds} seeds = {len(self.prepared.runs)} "
            f"({self.runs_left} still to train)",
            f"wall time       about {time.seconds / 60:.1f} min ({time.per_run_seconds:.1f} s a run, {time.parallel} "
            f"at once; {time.source})",
            f"power           {power.contrasts} contrasts at {POWER:.0%} power ({power.basis}); per contrast "
            f"family, its paired sd (a per-seed contrast's sd over seeds), the effect {seeds} seeds detect and the "
            f"seeds that detect an effect of the margin's size, {design.margin_db:g} dB:",
            *(f"  {_family_line(family)}" for family in power.families),
            f"seeds           fixed by the design: a larger experiment on the same question is another look, "
            f"tested at alpha / looks (experiment.looks; this one: alpha {design.alpha:g})",
        ])  # fmt: skip

    def _gain_text(self, genotype: str) -> str:
        gain = self.gains.get(genotype)
        return "(not trained yet)" if gain is None else f"(so far {gain:+.3f} dB over bicubic)"


def _family_line(family: FamilyPower) -> str:
    interval = "" if family.paired_sd_range_db is None else (
        f" [{family.paired_sd_range_db[0]:.3f}, {family.paired_sd_range_db[1]:.3f}]"
    )  # fmt: skip
    seeds = seeds_text(family.seeds_for_margin)
    if family.seeds_for_margin_range is not None:
        low, high = family.seeds_for_margin_range
        seeds += f" ({seeds_text(low)} to {seeds_text(high)} over that range)"
    return (
        f"{family.family}: {family.paired_sd_db:.3f} dB{interval} ({family.source}); detects "
        f"{family.detectable_db:.3f} dB; an effect of the margin's size needs {seeds} seeds"
    )


def plan(prepared: ExperimentRuns, power: PlannedPower) -> ExperimentPlan:
    """The plan of ``prepared`` with the design's ``power``: runs still to train and their wall time (from the
    study's recorded trainings, or timed)."""
    left = len(runs_left(prepared))
    blocked = tuple((arm.label, reason) for arm, reason in blocked_arms(prepared.space, prepared.design))
    return ExperimentPlan(prepared, left, estimate_time(prepared, left), power, blocked, _recorded_gains(prepared))


def _recorded_gains(prepared: ExperimentRuns) -> dict[str, float]:
    """Each arm genotype's mean gain over bicubic over its experiment runs trained so far (where recorded)."""
    study = load_designed(prepared.folder, Kind.EXPERIMENT) if prepared.folder.exists() else None
    gains: dict[str, list[float]] = {}
    for trial in study.get_trials(deepcopy=False) if study is not None else []:
        record = record_of(trial)
        if record.genotype is not None and record.gain_db is not None:
            gains.setdefault(record.genotype, []).append(record.gain_db)
    return {genotype: statistics.fmean(values) for genotype, values in gains.items()}


PowerOf = Callable[[StudyFolder, ExperimentDesign], PlannedPower]  # a design's power, from what its folder holds


def plan_experiment(space_path: str | Path, settings: RunSettings, power: PlannedPower | PowerOf) -> ExperimentPlan:
    """``nas experiment --plan``: the plan of the space file's experiment (``prepare``, then ``plan``), nothing
    trained or written. ``power`` is the design's power, or how to find it from the study folder and the design:
    the power reads the study as the report does (``nas.report.experiment_section.planned_power``), and the search
    imports no report, so a caller passes it in.

    Raises:
        SpaceError, StudyError: as ``prepare``.
    """
    prepared = prepare(space_path, settings)
    planned = power if isinstance(power, PlannedPower) else power(prepared.folder, prepared.design)
    return plan(prepared, planned)
