"""``nas experiment`` end to end on a real local Ray: plan, train (stopped by SIGTERM and resumed), report."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_no_dump
from PIL import Image

from nas import cli
from nas import study as studies
from nas.core import pinned_spaces, power
from nas.sr import data
from nas.study.folder import StudyFolder
from nas.study.records import record_of

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

# The mechanism control runs end to end in tests/test_inheritance.py.
EXPERIMENT = (
    "experiment: {blocks: [pa], groups: [[0], [1]], seeds: [5, 6], margin_db: 0.05, control: conv, mechanism: false}\n"
)


def experiment_command(space_file: Path, results: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nas", "experiment", "--space", str(space_file), "--results", str(results), *extra]


def stopped_after_one_run(command: list[str], cwd: Path) -> None:
    """Runs ``command`` in ``cwd`` and stops it with SIGTERM once its first run has finished (its first progress
    line, "1/N done (...)"); it must stop with status 130 and one line saying how to resume."""
    running = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=cwd)
    try:
        first = next((line for line in iter(running.stderr.readline, "") if " done (" in line), None)
        assert first is not None, "the experiment ended before its first run finished"
        running.send_signal(signal.SIGTERM)
        _, stderr = running.communicate(timeout=240)
    finally:
        running.kill()
    assert running.returncode == 130, stderr[-2000:]
    assert_no_dump(stderr)
    assert stderr.strip().splitlines()[-1] == f"nas experiment: stopped; {cli.RESUME_HINT}"
    assert "its finished runs are kept" in cli.RESUME_HINT


def test_an_experiment_is_planned_trained_stopped_resumed_and_reported(
    in_process, space_writer, ray_cluster, small_images, tmp_path, trainings_of
):
    # Read at 10 iterations along each run too: the report gives the verdict at 20 and each effect's change.
    space_file = space_writer(tmp_path, "designed", small_images, ["none", "pa"], extra=EXPERIMENT)
    # Also validated on other images: the report reads the same runs on them too.
    # A reading at 0 (untrained networks) is recorded, not analysed.
    text = space_file.read_text().replace("iterations: 20,", "iterations: 20, budgets: [0, 10],")
    also = tmp_path / "also"  # two small crops of the built-in validation photos: cheap to score at every reading
    also.mkdir()
    for image in data.builtin_images("val")[:2]:
        Image.fromarray(image.pixels[:64, :64]).save(also / f"{image.name}.png")
    space_file.write_text(text.replace(f"val: {small_images}}}", f"val: {small_images}, also_val: [{also}]}}"))
    results = tmp_path / "results"
    planned = in_process(experiment_command(space_file, results, "--plan", "--json")[3:])
    assert planned.returncode == 0, planned.stderr
    plan = json.loads(planned.stdout)
    # none, uniform pa, pa at depth 0 only (= pa dropped at 1), at depth 1 only, and the same three for conv.
    assert len(plan["arms"]) == 7 and plan["runs"] == plan["runs_left"] == 14
    assert plan["capacity_matches"]["pa"].startswith("conv(inner_channels=8, kernel_size=1) adds 256 parameters")
    assert plan["control_gaps"] == plan["blocked_arms"] == []
    (assumed,) = plan["families"]  # nothing measured: one assumed paired sd for every contrast family
    assert assumed["detectable_db"] > 0 and assumed["seeds_for_margin"] >= 2 and assumed["source"].startswith("assumed")
    given = json.loads(
        in_process(experiment_command(space_file, results, "--plan", "--paired-sd", "0.02", "--json")[3:]).stdout
    )
    (every,) = given["families"]  # a paired sd measured elsewhere sizes every family
    assert every["paired_sd_db"] == 0.02 and every["source"] == "0.02 dB given with --paired-sd"
    assert every["seeds_for_margin"] == power.seeds_needed(0.02, 0.05, given["contrasts"], 0.05)
    assert every["seeds_for_margin"] < assumed["seeds_for_margin"]
    refused = in_process(experiment_command(space_file, results, "--paired-sd", "0.02")[3:])
    assert refused.returncode == 2 and "give it with --plan" in refused.stderr
    folder = StudyFolder(results / "designed")
    assert not folder.root.exists()  # planning writes nothing

    # Relative paths, as a user types them from the folder they work in. Killed with SIGKILL and resumed in
    # tests/test_inheritance.py; here stopped with SIGTERM after its first run, then resumed.
    command = experiment_command(Path(space_file.name), Path("results"), "--address", ray_cluster.address)
    stopped_after_one_run(command, cwd=tmp_path)
    _, kept = studies.completed_designed(folder, studies.Kind.EXPERIMENT)
    assert 1 <= len(kept) < plan["runs"]  # what finished is in the study; the rest is left for the same command
    assert not folder.lock_file.read_text()  # the lock was let go
    early = in_process(["report", str(folder.root)])  # no search, and too few runs to analyse: say what to do
    assert early.returncode == 2 and "no search trial has finished, and the experiment is not analysable yet" in (
        early.stderr
    )
    assert "run `nas experiment` again" in early.stderr and "nas search" not in early.stderr
    second = subprocess.run(command, capture_output=True, text=True, timeout=400, cwd=tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]

    trainings = trainings_of(folder, studies.Kind.EXPERIMENT)
    assert trainings and len(trainings) == len(set(trainings)), "a genotype and seed was trained twice"
    runs = [record_of(t) for t in studies.load_designed(folder, studies.Kind.EXPERIMENT).get_trials()]
    done = {(r.genotype, r.seed) for r in runs if r.outcome is not None and r.outcome.has_values}
    assert done == {(arm["genotype"], seed) for arm in plan["arms"] for seed in plan["seeds"]}  # what was planned

    report = in_process(["report", str(folder.root), "--json"])
    assert report.returncode == 0, report.stderr[-2000:]
    markdown = (folder.root / "report" / "report.md").read_text()
    section = markdown.split("## Designed experiment")[1].split("## What the numbers measure")[0]
    assert "2 seeds" in section and "Bonferroni" in section and "per-seed contrast" in section
    assert (folder.root / "report" / "figures" / "experiment_pa.png").is_file()
    assert (folder.root / "report" / "figures" / "experiment_pa_budgets.png").is_file()
    budgets = "every run is read at 10, 20 iterations along one training; the verdict below is read at the largest, 20"
    assert budgets in section and "Across budgets: " in section
    analysed = json.loads((folder.root / "report" / "experiment.json").read_text())
    assert analysed["budgets"] == [10, 20] and analysed["headline_budget"] == 20
    assert len(analysed["changes"]) == len(analysed["effects"])  # one change test per contrast
    assert analysed["effects"] == analysed["at_budget"]["20"]["effects"] != analysed["at_budget"]["10"]["effects"]
    assert analysed["runs_used"] == 14
    assert {e["family"] for e in analysed["effects"]} == {"attention", "control", "attention - control"}
    assert all(e["activations_added"] is not None for e in analysed["effects"])
    for family in analysed["noise"]:  # each family's spread is its effects' own paired sds
        members = sorted(e["paired_sd_db"] for e in analysed["effects"] if [e["family"], e["kind"]] == family["key"])
        assert family["contrasts"] == len(members) and [family["low_sd_db"], family["high_sd_db"]] == [
            members[0],
            members[-1],
        ]
    replanned = json.loads(in_process(experiment_command(space_file, results, "--plan", "--json")[3:]).stdout)
    measured = analysed["noise"]
    assert [f["paired_sd_db"] for f in replanned["families"]] == pytest.approx([f["median_sd_db"] for f in measured])
    assert [f["seeds_for_margin"] for f in replanned["families"]] == [f["seeds_for_margin"] for f in measured]
    assert all(f["source"].startswith("the experiment's 14 runs so far") for f in replanned["families"])
    assert [f["paired_sd_range_db"] for f in replanned["families"]] == [
        [f["low_sd_db"], f["high_sd_db"]] for f in measured
    ]
    assert json.loads(report.stdout)["numbers"] == {"experiment": analysed}  # no search trial: the experiment alone
    assert all(len(reading["also_psnr"]) == 1 for r in runs if r.readings for reading in r.readings)
    assert all([reading["iterations"] for reading in r.readings] == [0, 10, 20] for r in runs if r.readings)
    (source, crops), *_ = analysed["also_val"].items()
    assert source == pinned_spaces.pinned_path(str(also)) and f"**Also validated on `{source}`**" in section
    assert crops["budgets"] == [10, 20] and crops["runs_used"] == 14
    assert [e["label"] for e in crops["effects"]] == [e["label"] for e in analysed["effects"]]
    assert [e["estimate_db"] for e in crops["effects"]] != [e["estimate_db"] for e in analysed["effects"]]
    assert crops["arms"][0]["gain_db"] != analysed["arms"][0]["gain_db"]  # each source has its own floor


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (EXPERIMENT.replace("[[0], [1]]", "[[0, 1], [1]]"), "experiment.groups[1]: got [1]; depth 1 is in two groups"),
        (EXPERIMENT.replace("blocks: [pa]", "blocks: [esa]"), "experiment.blocks[0]: got 'esa'; not an attention"),
        (EXPERIMENT.replace("seeds: [5, 6]", "seeds: [0, 6]"), "experiment.seeds: got [0, 6]; use seeds the search"),
        (EXPERIMENT.replace("margin_db: 0.05", "margin_db: -1"), "experiment.margin_db: got -1"),
        ("", "no experiment: section"),
    ],
)
def test_a_bad_or_missing_experiment_section_stops_with_one_line(
    in_process, space_writer, small_images, tmp_path, section: str, message: str
):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "pa"], extra=section)
    result = in_process(experiment_command(space_file, tmp_path / "results")[3:])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "results").exists()


def test_arms_over_a_constraint_are_named_by_the_plan_and_refused_before_training(
    in_process, space_writer, small_images, tmp_path
):
    capped = EXPERIMENT + "constraints: {max_macs: 5.0e+8}\n"
    space_file = space_writer(tmp_path, "capped", small_images, ["none", "pa"], extra=capped)
    planned = in_process(experiment_command(space_file, tmp_path / "results", "--plan")[3:])
    assert planned.returncode == 0, planned.stderr
    folder = pinned_spaces.pinned_path(str(tmp_path / "results" / "capped"))  # no path of this machine if avoidable
    assert planned.stdout.splitlines()[0] == f"experiment plan for {folder} (nothing is trained)"
    blocked = [line for line in planned.stdout.splitlines() if line.startswith("cannot run")]
    assert len(blocked) == 7 and "exceeds max_macs 5e+08" in blocked[0]
    result = in_process(experiment_command(space_file, tmp_path / "results")[3:])
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "7 arm(s) of the experiment are over the space's constraints" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and not (tmp_path / "results").exists()
