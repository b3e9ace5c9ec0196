"""The search's progress line: done/failed/running/total, best PSNR, front size, elapsed time and ETA."""

from __future__ import annotations

import time
from typing import Any, TextIO

import numpy as np
from optuna.trial import FrozenTrial, TrialState
from ray import tune

from nas.core import pareto
from nas.study.records import Outcome, counted, record_of

PROGRESS_INTERVAL_S = 1.0


class Progress:
    """Counts trial outcomes and prints the search's progress: a live line on a terminal, plain lines otherwise."""

    def __init__(self, existing: list[FrozenTrial], objectives: tuple[str, ...], total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.interactive = stream.isatty()
        self.maximize = pareto.maximized(objectives)
        self.outcomes: dict[Outcome, int] = {}
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

    def count_of(self, outcome: Outcome) -> int:
        return self.outcomes.get(outcome, 0)

    def _count(self, finished: FrozenTrial) -> None:
        outcome = record_of(finished).outcome or Outcome.FAILED
        self.outcomes[outcome] = self.count_of(outcome) + 1
        if finished.state == TrialState.COMPLETE:
            self.values.append(list(finished.values))

    def record(self, finished: FrozenTrial) -> None:
        self._count(finished)
        # Tune's count of running trials is read again at its next step; the last trial has none after it.
        self.running = max(0, self.running - 1)
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
        return (
            f"{self.finished}/{self.total} done ({self.count_of(Outcome.FAILED)} failed, "
            f"{self.count_of(Outcome.INFEASIBLE)} infeasible, {self.count_of(Outcome.DUPLICATE)} duplicates), "
            f"{self.running} running | best PSNR {best} | front {self.front_size()} | {_duration(elapsed)} elapsed, "
            f"ETA {eta}"
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


class ShowProgress(tune.Callback):
    """Tune callback that keeps the progress line's running count current."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.progress.running = sum(t.status == "RUNNING" for t in trials)
        self.progress.show()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"
