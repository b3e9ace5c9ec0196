"""The study's evaluation store: one result per trained (genotype, budget, data, seed), shared by all workers.

``EvaluationStore.once(key, compute)`` is the whole protocol: it returns the recorded result of ``key`` or runs
``compute`` to make it, and a trial never needs the steps below. A trial about to train first claims its
evaluation (``<key>.claim``, created exclusively), then writes the
result (``<key>.json``) before reporting it. A trial that finds the result reuses it (a duplicate); one that
finds a claim of a trial still running in this search waits for that result instead of training the same
network twice. Claims name the search run that made them, so those left by a killed run are taken over:
one take-over at a time (a lock file, ``flock``), so trials racing for the same stale claim train it once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.core import initial_weights
from nas.core.settings import DataSources, ProxyBudget
from nas.files import create_exclusively, open_appending, write_atomically
from nas.study.folder import Kind, StudyFolder

CLAIM_SUFFIX = ".claim"
TAKEOVER_LOCK = ".takeover.lock"
CLAIM_POLL_S = 0.2


def evaluation_key(genotype_id: str, seed: int, budget: ProxyBudget, sources: DataSources) -> str:
    """What makes two trainings the same: architecture, seed, how the seed draws the initial weights, every training
    field of the budget, and the data.

    Built from the dataclasses' own fields, so a new budget or data field is part of the key without an edit
    here (``ProxyBudget.identity``: not the study's seed list; a parent by its content hash, not its path;
    ``DataSources.identity``: an empty list left out, so older keys stay as they were).
    """
    identity = [genotype_id, seed, initial_weights.SCHEME, budget.identity(), sources.identity()]
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or cut short by a crash while writing
        return None


@contextmanager
def _takeover_lock(folder: StudyFolder) -> Iterator[None]:
    with open_appending(folder.evaluations / TAKEOVER_LOCK) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


@dataclass(frozen=True)
class EvaluationClaim:
    """One evaluation's files (its claim and its result), seen from trial ``number`` of search run ``run_id``."""

    folder: StudyFolder
    key: str
    number: int
    run_id: str

    @property
    def result_file(self) -> Path:
        return self.folder.evaluations / f"{self.key}.json"

    @property
    def claim_file(self) -> Path:
        return self.folder.evaluations / f"{self.key}{CLAIM_SUFFIX}"

    def recorded(self) -> dict[str, Any] | None:
        """``{"number": trial that trained it, "study": its study's kind, "metrics": {...}}``, or None when not
        trained yet."""
        return _read_json(self.result_file)

    def claim(self) -> int | None:
        """Claims the training: None when this trial may train, else the number of the trial that trains it
        or, when that trial recorded its result and released its claim just before, that has trained it."""
        holder = self._take_claim()
        if holder is None and (recorded := self.recorded()) is not None:
            self.release()
            return recorded["number"]
        return holder

    def _take_claim(self) -> int | None:
        mine = json.dumps({"number": self.number, "run": self.run_id})
        while not create_exclusively(self.claim_file, mine):
            holder = _read_json(self.claim_file)
            if holder is not None and holder["run"] == self.run_id and holder["number"] != self.number:
                return holder["number"]
            # Released in between, or a claim to take over: of a finished search run, unreadable, or this
            # trial's own from before its worker was restarted. It is removed, then claimed like a free one.
            self._remove_claim_if_still(holder)
        return None

    def _remove_claim_if_still(self, seen: dict[str, Any] | None) -> None:
        """Removes the claim if it is still the one ``seen``. Under the lock, a trial that saw the same stale
        claim as the one taking it over finds it gone or replaced by the winner's, which it then leaves alone."""
        with _takeover_lock(self.folder):
            if self.claim_file.exists() and _read_json(self.claim_file) == seen:
                self.claim_file.unlink()

    def record(self, metrics: dict[str, Any], kind: Kind = Kind.SEARCH) -> None:
        result = {"number": self.number, "study": kind.value, "metrics": metrics}
        write_atomically(self.result_file, json.dumps(result))

    def release(self) -> None:
        self.claim_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class Shared:
    """An evaluation's result as ``EvaluationStore.once`` returns it."""

    value: dict[str, Any]
    duplicate_of: int | None  # the other trial whose recorded result this is; None when this trial made it
    duplicate_in: str | None  # that trial's study kind, where it is not this trial's study
    waited_seconds: float  # idle time spent waiting for a concurrent trial to record it


@dataclass(frozen=True)
class EvaluationStore:
    """The evaluations of one study folder, as run ``run_id`` of its study of ``kind`` sees them."""

    folder: StudyFolder
    run_id: str
    kind: Kind = Kind.SEARCH

    def once(
        self,
        key: str,
        number: int,
        compute: Callable[[], dict[str, Any]],
        keep: Callable[[dict[str, Any]], bool],
        rerun_of: int | None = None,
        log: Callable[[str], None] = lambda _: None,
    ) -> Shared:
        """The result of evaluation ``key`` for trial ``number``: recorded by an earlier trial, or computed now.

        At most one trial of the study computes a key at a time; others wait for its result. ``compute``'s result
        is recorded when ``keep`` accepts it (a failed or infeasible one is not). A result recorded by this trial,
        or by the interrupted trial it re-runs (``rerun_of``), counts as its own, not as a duplicate.
        """
        claim = EvaluationClaim(self.folder, key, number, self.run_id)
        waited = 0.0
        while (recorded := claim.recorded()) is None:
            holder = claim.claim()
            if holder is None:
                try:
                    value = compute()
                    if keep(value):
                        claim.record(value, self.kind)
                finally:
                    claim.release()
                return Shared(value, None, None, waited)
            if not waited:
                log(f"trial {holder} is training the same genotype and seed; waiting for its result")
            idle_since = time.perf_counter()
            time.sleep(CLAIM_POLL_S)
            waited += time.perf_counter() - idle_since  # as slept: a loaded machine oversleeps
        study = recorded.get("study", Kind.SEARCH.value)
        if study == self.kind.value and recorded["number"] in (rerun_of, number):
            if recorded["number"] != number:
                # The interrupted trial is recorded as such; the result is now this re-run's, so trials that
                # reuse it later name a trial that completed with it.
                claim.record(recorded["metrics"], self.kind)
            log(f"trial {recorded['number']} trained it before the run was interrupted; result reused")
            return Shared(recorded["metrics"], None, None, waited)
        where = "" if study == self.kind.value else f" of the {study} study"
        log(f"duplicate: trial {recorded['number']}{where} trained it with the same budget and seed; reused")
        return Shared(recorded["metrics"], recorded["number"], None if study == self.kind.value else study, waited)

    def forget_results_of(self, number: int) -> None:
        """Removes the results trial ``number`` recorded (it failed after recording them: its worker died), so no
        trial reuses them as a duplicate of a failed trial; the next trial of that genotype and seed trains."""
        for result in self.folder.evaluations.glob("*.json"):
            recorded = _read_json(result) or {}
            if recorded.get("number") == number and recorded.get("study", Kind.SEARCH.value) == self.kind.value:
                result.unlink(missing_ok=True)

    def release_claims_of(self, number: int) -> None:
        """Removes the claims of trial ``number`` of this run (its worker died), so trials waiting on it train
        instead. Claims of other runs are removed by take-overs only."""
        for claim in self.folder.evaluations.glob(f"*{CLAIM_SUFFIX}"):
            if _read_json(claim) == {"number": number, "run": self.run_id}:
                claim.unlink(missing_ok=True)
