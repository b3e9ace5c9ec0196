"""``nas search`` end to end on a real local Ray (two nodes on 127.0.0.1) with real training and Optuna storage."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import recorded_trainings
from optuna.trial import TrialState

from nas import study as studies
from nas.core import counting, genotypes, pareto, spaces
from nas.search import run
from nas.search.run import RunSettings
from nas.study import lifecycle
from nas.study.folder import StudyFolder
from nas.study.records import Outcome

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

PLUGIN = Path(__file__).with_name("plugins") / "faulty_blocks.py"


def finished_trials(folder: StudyFolder) -> list:
    return [t for t in studies.load_study(folder).get_trials() if t.state.is_finished()]


def read_csv(folder: StudyFolder) -> list[dict[str, str]]:
    with folder.trials_csv.open() as handle:
        return list(csv.DictReader(handle))


def test_search_stores_both_objectives_the_baselines_and_a_matching_trials_csv(
    space_writer, ray_cluster, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "basic", small_images, ["none", "ca", "pa"], iterations=100, seeds=(0, 1))
    searched = spaces.load(space_file)
    progress = io.StringIO()
    summary = run.search(space_file, RunSettings(trials=9, results=tmp_path / "results"), stream=progress)
    folder = StudyFolder(tmp_path / "results" / "basic")
    trials = finished_trials(folder)

    assert summary.finished == len(trials) == 9
    baselines = {(t.user_attrs["baseline"], t.user_attrs["seed"]) for t in trials if "baseline" in t.user_attrs}
    assert baselines == {(f"uniform:{b}", s) for b in ("none", "ca", "pa") for s in (0, 1)}
    by_number = {t.number: t for t in trials}
    for trial in trials:
        assert trial.state == TrialState.COMPLETE, trial.user_attrs.get("error")
        psnr, macs = trial.values
        arch = genotypes.from_params(searched, trial.params)
        assert trial.user_attrs["genotype"] == str(arch)
        assert macs == trial.user_attrs["macs"] == counting.network_cost(arch).macs
        assert 15 < psnr < 60
        if trial.user_attrs["duplicate_of"] is not None:
            original = by_number[trial.user_attrs["duplicate_of"]]
            assert (original.user_attrs["genotype"], original.user_attrs["seed"]) == (
                str(arch),
                trial.user_attrs["seed"],
            )
            assert original.values == trial.values
    # The two seeds of a baseline train differently: the spread the report uses as the noise yardstick.
    none_psnrs = {t.user_attrs["seed"]: t.values[0] for t in trials if t.user_attrs.get("baseline") == "uniform:none"}
    assert none_psnrs[0] != none_psnrs[1]
    # Trials were spread over both nodes of the cluster.
    assert len({t.user_attrs["node"] for t in trials}) == 2

    rows = read_csv(folder)
    assert [int(r["number"]) for r in rows] == sorted(by_number)
    for row in rows:
        stored = by_number[int(row["number"])]
        assert row["state"] == "COMPLETE" and row["genotype"] == stored.user_attrs["genotype"]
        assert float(row["psnr"]) == stored.values[0] and int(row["macs"]) == stored.values[1]
        assert int(row["seed"]) == stored.user_attrs["seed"]

    values = np.array([t.values for t in trials])
    assert summary.front == int(pareto.nondominated(values, [True, False]).sum())
    assert "9/9 done" in progress.getvalue().splitlines()[-1]
    record = json.loads(folder.environment_file.read_text())[-1]
    assert record["ray_cluster"]["CPU"] == 2 and record["versions"]["optuna"]
    assert folder.space_file.read_text() == space_file.read_text()


def test_a_duplicate_reuses_the_recorded_result_at_under_one_percent_of_a_training(
    space_writer, ray_cluster, small_images, tmp_path
):
    # One block, so every trial is the same genotype: the first trains, the others must not.
    space_file = space_writer(tmp_path, "dedup", small_images, ["ca"], iterations=200)
    run.search(space_file, RunSettings(trials=4, results=tmp_path), stream=io.StringIO())
    trials = sorted(finished_trials(StudyFolder(tmp_path / "dedup")), key=lambda t: t.number)
    trained = [t for t in trials if t.user_attrs["outcome"] == Outcome.TRAINED]
    duplicates = [t for t in trials if t.user_attrs["outcome"] == Outcome.DUPLICATE]
    assert len(trained) == 1 and len(duplicates) == 3
    original = trained[0]
    for duplicate in duplicates:
        assert duplicate.user_attrs["duplicate_of"] == original.number
        assert duplicate.values == original.values
        assert duplicate.user_attrs["trial_seconds"] < 0.01 * original.user_attrs["trainer_seconds"]
    assert len(list((tmp_path / "dedup" / "evaluations").glob("*.json"))) == 1


def test_failing_trials_are_recorded_with_their_reasons_and_the_search_goes_on(
    space_writer, ray_cluster, small_images, tmp_path
):
    extra = f"plugins: [{PLUGIN}]\nconstraints: {{max_macs: 3.0e9}}\n"
    choices = ["none", "explode", "nan_out", "die", "a2b"]
    space_file = space_writer(tmp_path, "faults", small_images, choices, depth=1, extra=extra)
    run.search(space_file, RunSettings(trials=5, results=tmp_path), stream=io.StringIO())
    folder = StudyFolder(tmp_path / "faults")
    by_baseline = {t.user_attrs["baseline"]: t for t in finished_trials(folder)}

    assert by_baseline["uniform:none"].state == TrialState.COMPLETE
    exploded = by_baseline["uniform:explode"]
    assert exploded.state == TrialState.FAIL
    assert exploded.user_attrs["error"] == "RuntimeError: explode block failed on purpose"
    assert "Traceback" in folder.trial_log(exploded.number).read_text()
    nan = by_baseline["uniform:nan_out"]
    assert nan.state == TrialState.FAIL and nan.user_attrs["error"].startswith("loss became nan")
    died = by_baseline["uniform:die"]
    assert died.state == TrialState.FAIL and "worker process died" in died.user_attrs["error"]
    # Over the MAC limit: recorded with its cost, never trained.
    heavy = by_baseline["uniform:a2b"]
    assert heavy.state == TrialState.PRUNED and heavy.user_attrs["outcome"] == Outcome.INFEASIBLE
    assert heavy.user_attrs["macs"] > 3.0e9 and heavy.user_attrs["error"].startswith("infeasible: macs")
    assert "loss curve" not in folder.trial_log(heavy.number).read_text()
    states = {row["genotype"]: row["state"] for row in read_csv(folder)}
    assert states == {t.user_attrs["genotype"]: t.state.name for t in by_baseline.values()}


def _search_command(space_file: Path, results: Path, address: str, trials: int) -> list[str]:
    return [
        sys.executable, "-m", "nas", "search", "--space", str(space_file), "--trials", str(trials),
        "--results", str(results), "--address", address,
    ]  # fmt: skip


def test_sigkill_then_the_same_command_resumes_without_losing_or_retraining(
    space_writer, ray_cluster, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "resume", small_images, ["none", "ca", "pa", "spatial"], iterations=150)
    folder = StudyFolder(tmp_path / "resume")
    command = _search_command(space_file, tmp_path, ray_cluster.address, trials=8)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and (not folder.trials_csv.exists() or len(read_csv(folder)) < 3):
        time.sleep(0.2)
    first.send_signal(signal.SIGKILL)
    first.wait()
    killed_at = len(read_csv(folder))
    assert 3 <= killed_at < 8

    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    trials = finished_trials(folder)
    counted = [t for t in trials if t.user_attrs["outcome"] != Outcome.INTERRUPTED]
    assert len(counted) == 8 and all(t.state == TrialState.COMPLETE for t in counted)
    reruns = {t.user_attrs.get("rerun_of"): t for t in counted}
    for interrupted in (t for t in trials if t.user_attrs["outcome"] == Outcome.INTERRUPTED):
        assert interrupted.state == TrialState.FAIL
        assert reruns[interrupted.number].params == interrupted.params
    trainings = recorded_trainings(sorted(folder.logs.glob("trial-*.log")))
    assert len(trainings) == len(set(trainings)), "a genotype and seed was trained twice"
    assert {t.user_attrs["genotype"] for t in counted} >= {g for g, _ in trainings}
    assert len(read_csv(folder)) == len(trials)
    assert len({t.user_attrs["node"] for t in counted}) == 2  # --address joined the two-node cluster


def test_a_resumed_study_must_use_the_same_space_and_fresh_keeps_the_old_one(
    nas_cli, space_writer, tmp_path, small_images
):
    space_file = space_writer(tmp_path, "changed", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "results" / "changed")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    space_file.write_text(space_file.read_text().replace("iterations: 20", "iterations: 30"))
    result = nas_cli("search", "--space", str(space_file), "--results", str(tmp_path / "results"))
    assert result.returncode == 2
    assert "differs from the space this study ran with" in result.stderr and "--fresh" in result.stderr
    assert "Traceback" not in result.stderr
    lifecycle.move_aside(folder)
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    kept = [p for p in (tmp_path / "results").iterdir() if p.name.startswith("changed.")]
    assert len(kept) == 1 and (kept[0] / "optuna.journal").is_file()
    assert folder.space_file.read_text() == space_file.read_text()


def test_a_search_runs_with_relative_space_and_results_paths(space_writer, ray_cluster, small_images, tmp_path):
    space_writer(tmp_path, "relative", small_images, ["none", "pa"])
    command = [
        sys.executable, "-m", "nas", "search", "--space", "relative.yaml", "--results", "results", "--trials", "1",
        "--address", ray_cluster.address, "--json",
    ]  # fmt: skip
    # As a user types the paths, from the folder they work in.
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout)
    folder = StudyFolder(tmp_path / "results" / "relative")
    assert summary["counts"]["finished"] == summary["counts"]["trained"] == 1
    assert summary["paths"]["folder"] == str(folder.root) and folder.tune_runs.is_dir()  # Tune's runs in the study


def test_nondominated_matches_a_brute_force_check() -> None:
    rng = np.random.default_rng(0)
    values = np.round(rng.normal(size=(300, 3)), 1)  # rounding makes ties
    maximize = [True, False, False]
    losses = np.where(maximize, -values, values)
    expected = [
        not any((losses[j] <= losses[i]).all() and (losses[j] < losses[i]).any() for j in range(len(values)))
        for i in range(len(values))
    ]
    assert pareto.nondominated(values, maximize).tolist() == expected
    assert 0 < sum(expected) < len(values)


def test_storage_url_keeps_the_study_in_that_database(space_writer, ray_cluster, small_images, tmp_path):
    space_file = space_writer(tmp_path, "sql", small_images, ["none", "ca"])
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    run.search(space_file, RunSettings(trials=2, results=tmp_path / "results", storage=url), stream=io.StringIO())
    folder = StudyFolder(tmp_path / "results" / "sql")
    recorded_url, name = folder.storage_and_name()
    assert recorded_url == url and name.startswith("sql-") and not folder.journal.exists()
    stored = optuna.load_study(study_name=name, storage=url)
    assert sum(t.state == TrialState.COMPLETE for t in stored.trials) == 2
    assert len(read_csv(folder)) == 2


def test_grid_sampler_covers_every_combination_and_stops(space_writer, ray_cluster, small_images, tmp_path, caplog):
    space_file = space_writer(tmp_path, "grid", small_images, ["none", "ca"])
    space_file.write_text(space_file.read_text().replace("sampler: nsga2", "sampler: grid"))
    with caplog.at_level(logging.INFO, logger="nas"):
        summary = run.search(space_file, RunSettings(trials=50, results=tmp_path), stream=io.StringIO())
    trials = finished_trials(StudyFolder(tmp_path / "grid"))
    assert "the grid is covered by 6 trials" in caplog.text  # 4 combinations + 2 baselines it repeats
    assert summary.finished == len(trials) == 6
    trained = sorted(t.user_attrs["genotype"] for t in trials if t.user_attrs["outcome"] == Outcome.TRAINED)
    assert trained == sorted(f"x2.c16.u4:{p}" for p in ("none*2", "ca*2", "none-ca", "ca-none"))


def test_editing_the_space_file_during_a_search_leaves_its_trials_on_the_pinned_space(
    space_writer, ray_cluster, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "pinned", small_images, ["none", "ca", "pa"], iterations=20)
    folder = StudyFolder(tmp_path / "pinned")
    command = _search_command(space_file, tmp_path, ray_cluster.address, trials=5)
    running = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not folder.exists():
        time.sleep(0.05)
    # The study exists and no trial has started: every worker reads its space from now on.
    space_file.write_text(space_file.read_text().replace("iterations: 20", "iterations: 40"))
    _, stderr = running.communicate(timeout=300)
    assert running.returncode == 0, stderr[-2000:]
    curves = [
        len(line.partition("loss curve: ")[2].split(", "))
        for log in folder.logs.glob("trial-*.log")
        for line in log.read_text().splitlines()
        if "loss curve: " in line
    ]
    # Below 50 iterations the loss curve has one point per iteration: every training ran the pinned 20.
    assert len(curves) >= 3 and set(curves) == {20}
    assert folder.space().proxy.iterations == 20
