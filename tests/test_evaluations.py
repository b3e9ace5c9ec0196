"""The evaluation store's claims: one trial trains a (genotype, budget, seed); the others wait or reuse."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nas.search.store import EvaluationClaim
from nas.study.folder import StudyFolder


def test_a_claim_is_exclusive_and_a_released_one_can_be_taken(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path / "study")
    first, second = EvaluationClaim(folder, "key", 1, "run-a"), EvaluationClaim(folder, "key", 2, "run-a")
    assert first.claim() is None
    assert second.claim() == 1
    first.release()
    assert second.claim() is None
    second.release()
    assert not list(folder.evaluations.glob(".*.tmp"))


def test_a_claim_made_just_after_another_trial_recorded_and_released_does_not_train_again(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path / "study")
    trained, late = EvaluationClaim(folder, "key", 1, "run-a"), EvaluationClaim(folder, "key", 2, "run-a")
    assert late.recorded() is None  # the late trial looked before the result was written...
    assert trained.claim() is None
    trained.record({"psnr": 31.5})
    trained.release()
    assert late.claim() == 1  # ...and claims after it was released: it is sent to the result instead
    assert not late.claim_file.exists()
    assert late.recorded() == {"number": 1, "study": "search", "metrics": {"psnr": 31.5}}


def test_stale_and_unreadable_claims_are_taken_over(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path / "study")
    killed_run = EvaluationClaim(folder, "stale", 4, "run-killed")
    assert killed_run.claim() is None
    resumed = EvaluationClaim(folder, "stale", 9, "run-resumed")
    assert resumed.claim() is None
    assert json.loads(resumed.claim_file.read_text()) == {"number": 9, "run": "run-resumed"}

    torn = EvaluationClaim(folder, "torn", 5, "run-resumed")
    torn.claim_file.write_text("")  # a claim cut short by a crash of an older writer
    assert torn.claim() is None
    assert json.loads(torn.claim_file.read_text())["number"] == 5


CONTENDER = """
import sys
from pathlib import Path
from nas.search.store import EvaluationClaim
from nas.study.folder import StudyFolder
folder, number, keys = StudyFolder(Path(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
print(" ".join(str(k) for k in range(keys) if EvaluationClaim(folder, str(k), number, "run-resumed").claim() is None))
"""


def test_trials_racing_for_the_same_stale_claims_take_each_over_once(tmp_path: Path) -> None:
    folder, keys = StudyFolder(tmp_path / "study"), 200
    for key in range(keys):
        assert EvaluationClaim(folder, str(key), 0, "run-killed").claim() is None
    contenders = [
        subprocess.Popen(
            [sys.executable, "-c", CONTENDER, str(folder.root), str(number), str(keys)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for number in (1, 2, 3, 4)
    ]
    for contender in contenders:
        assert contender.stdout.readline() == "ready\n"
    for contender in contenders:  # all imported: start them together, so they race for the same claims
        contender.stdin.write("go\n")
        contender.stdin.flush()
    won = [int(key) for contender in contenders for key in contender.communicate(timeout=120)[0].split()]
    assert all(contender.returncode == 0 for contender in contenders)
    assert sorted(won) == list(range(keys))  # each stale claim taken over by exactly one contender
