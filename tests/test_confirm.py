"""``nas confirm``: the front and the uniform placements retrained with fresh seeds, and the verdict they give.

Real searches and real training on a local Ray; the genotypes' true ordering is known from blocks with a known
effect (``tests/plugins/placement_blocks.py``).
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nas import study as studies
from nas.report import build
from nas.search import run
from nas.search.run import RunSettings
from nas.study.folder import StudyFolder
from nas.study.records import record_of

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

PLUGIN = Path(__file__).with_name("plugins") / "placement_blocks.py"


def grid_study(space_writer, small_images: Path, root: Path, name: str, choices: list[str]) -> StudyFolder:
    """A searched study of every two-depth combination of ``choices`` (a grid), trained for 30 iterations."""
    # Networks this small do not beat bicubic: the bar is lowered to exercise the comparison's words.
    extra = f"plugins: [{PLUGIN}]\n"
    space_file = space_writer(root, name, small_images, choices, iterations=30, extra=extra, min_gain_db=-100)
    space_file.write_text(space_file.read_text().replace("sampler: nsga2", "sampler: grid"))
    run.search(space_file, RunSettings(trials=50, results=root), stream=io.StringIO())
    return StudyFolder(root / name, plugins_trusted=True)  # its blocks come from the test's own plugin file


def confirm_command(folder: StudyFolder, address: str) -> list[str]:
    command = ["confirm", str(folder.root), "--seeds", "4", "--address", address, "--trust-plugins"]
    return [sys.executable, "-m", "nas", *command]


def test_a_truly_better_mixed_placement_is_confirmed_and_a_killed_confirmation_resumes_without_retraining(
    space_writer, ray_cluster, small_images, tmp_path, killed_run, trainings_of
):
    folder = grid_study(space_writer, small_images, tmp_path, "better", ["noisy", "clean"])
    command = confirm_command(folder, ray_cluster.address)
    killed_run(command, folder.trials_csv_of(studies.Kind.CONFIRMATION), rows=4)
    second = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert second.returncode == 0, second.stderr[-2000:]

    trainings = trainings_of(folder, studies.Kind.CONFIRMATION)
    assert trainings and len(trainings) == len(set(trainings)), "a genotype and seed was trained twice"
    confirmed = studies.load_designed(folder, studies.Kind.CONFIRMATION)
    search_seeds = {record_of(t).seed for t in studies.load_study(folder).get_trials()}
    assert set(confirmed.user_attrs["seeds"]).isdisjoint(search_seeds) and len(confirmed.user_attrs["seeds"]) == 4
    runs = [record_of(t) for t in confirmed.get_trials() if t.state.name == "COMPLETE"]
    assert {r.seed for r in runs} == set(confirmed.user_attrs["seeds"])
    assert {r.arm for r in runs} >= {"uniform:noisy", "uniform:clean", "front"}

    report = build.build(folder)
    # Noise once (the mixed placements) beats noise twice, the only uniform placement at no greater cost.
    assert (
        "against `uniform:noisy` (the best uniform placement at their cost by confirmed mean): do the mixed "
        "placements beat the best uniform placement? **yes**" in report.markdown
    )
    assert "→ better" in report.markdown and "never used by the search" in report.markdown
    numbers = json.loads(json.dumps(report.to_json(), allow_nan=False))["numbers"]  # what `nas report --json` prints
    assert numbers["confirmation"]["bands"] == {"uniform:noisy": "yes"}
    better = [c for c in numbers["confirmation"]["comparisons"] if c["verdict"].startswith("better")]
    assert better and all(c["low_db"] > 0 and c["seeds"] == 4 for c in better)
    assert numbers["seed_noise"]["std_db"] is None and numbers["seed_noise"]["runs"] == 0  # the search's one seed


def test_identical_networks_read_as_single_run_maxima_until_confirmed_and_are_never_confirmed_better(
    space_writer, ray_cluster, small_images, tmp_path
):
    folder = grid_study(space_writer, small_images, tmp_path, "same", ["none", "same"])
    unconfirmed = build.build(folder).markdown  # before any confirmation: the numbers are single-run maxima
    assert "single-run maxima" in unconfirmed and f"nas confirm {folder.root}" in unconfirmed
    command = confirm_command(folder, ray_cluster.address)
    command[command.index(str(folder.root))] = "same"  # relative, as a user types it in the results folder
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    markdown = build.build(folder).markdown
    assert "**yes**" not in markdown and "→ better" not in markdown
    assert "→ equivalent" in markdown or "→ inconclusive" in markdown
