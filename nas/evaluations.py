"""The study's evaluation store: one result per trained (genotype, budget, data, seed), shared by all workers.

A trial about to train first claims its evaluation (``<key>.claim``, created exclusively), then writes the
result (``<key>.json``) before reporting it. A trial that finds the result reuses it (a duplicate); one that
finds a claim of a trial still running in this search waits for that result instead of training the same
network twice. Claims name the search run that made them, so those left by a killed run are taken over.
Two trials can only both train after a killed run, if both take over the same stale claim at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nas.study import StudyFolder, create_exclusively, write_atomically

CLAIM_SUFFIX = ".claim"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):  # absent, or cut short by a crash while writing
        return None


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
            if holder is None and not self.claim_file.exists():
                continue  # released in between
            if holder is not None and holder["run"] == self.run_id and holder["number"] != self.number:
                return holder["number"]
            # A claim of a finished search run, an unreadable one, or this trial's own from before its worker
            # was restarted: take it over.
            write_atomically(self.claim_file, mine)
            holder = _read_json(self.claim_file)
            return None if holder is None or holder["number"] == self.number else holder["number"]
        return None

    def record(self, metrics: dict[str, Any]) -> None:
        write_atomically(self.result_file, json.dumps({"number": self.number, "metrics": metrics}))

    def release(self) -> None:
        self.claim_file.unlink(missing_ok=True)


def release_claims_of(folder: StudyFolder, number: int) -> None:
    """Removes the claims of trial ``number`` (its worker died), so trials waiting on it train instead."""
    for claim in folder.evaluations.glob(f"*{CLAIM_SUFFIX}"):
        holder = _read_json(claim)
        if holder is not None and holder["number"] == number:
            claim.unlink(missing_ok=True)
