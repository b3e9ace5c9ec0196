"""The study's evaluation store: one result per trained (genotype, budget, data, seed), shared by all workers.

A trial about to train first claims its evaluation (``<key>.claim``, created exclusively), then writes the
result (``<key>.json``) before reporting it. A trial that finds the result reuses it (a duplicate); one that
finds a claim of a trial still running in this search waits for that result instead of training the same
network twice. Claims name the search run that made them, so those left by a killed run are taken over:
one take-over at a time (a lock file, ``flock``), so trials racing for the same stale claim train it once.
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.search.studies import StudyFolder, create_exclusively, write_atomically

CLAIM_SUFFIX = ".claim"
TAKEOVER_LOCK = ".takeover.lock"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or cut short by a crash while writing
        return None


@contextmanager
def _takeover_lock(folder: StudyFolder) -> Iterator[None]:
    with open(folder.evaluations / TAKEOVER_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
        yield


@dataclass(frozen=True)
class Evaluation:
    """One evaluation's files, seen from trial ``number`` of search run ``run_id``."""

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
        """``{"number": trial that trained it, "metrics": {...}}``, or None when not trained yet."""
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

    def record(self, metrics: dict[str, Any]) -> None:
        write_atomically(self.result_file, json.dumps({"number": self.number, "metrics": metrics}))

    def release(self) -> None:
        self.claim_file.unlink(missing_ok=True)


def release_claims_of(folder: StudyFolder, run_id: str, number: int) -> None:
    """Removes the claims of trial ``number`` of search run ``run_id`` (its worker died), so trials waiting on
    it train instead. Claims of other runs are removed by take-overs only."""
    for claim in folder.evaluations.glob(f"*{CLAIM_SUFFIX}"):
        if _read_json(claim) == {"number": number, "run": run_id}:
            claim.unlink(missing_ok=True)
