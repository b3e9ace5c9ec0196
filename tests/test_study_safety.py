"""Nothing lost, nothing silent: a journal cut short, two searches on one folder, bad input, SIGTERM, duplicates
(an experiment's SIGTERM: test_experiment_run.py)."""

from __future__ import annotations

import http.server
import io
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from conftest import assert_no_dump, free_port

from nas import study as studies
from nas.core import pareto, spaces
from nas.report import build
from nas.search import run
from nas.search.run import RunSettings
from nas.search.store import EvaluationStore
from nas.study import journal, lifecycle, lock
from nas.study.folder import StudyError, StudyFolder
from nas.study.records import Outcome, TrialRecord

pytestmark = pytest.mark.slow  # real searches or trainings: left out of the fast lane

SEARCH_TIMEOUT_S = 240


def _search(space_file: Path, results: Path, address: str, trials: int, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "nas", "search", "--space", str(space_file), "--trials", str(trials),
        "--results", str(results), "--address", address, *extra,
    ]  # fmt: skip


def _trial_view(folder: StudyFolder) -> dict[int, tuple]:
    """Every stored trial as (state, values, user attributes): what must survive a repair."""
    return {t.number: (t.state, t.values, t.user_attrs) for t in studies.load_study(folder).get_trials()}


# --- a journal cut short -------------------------------------------------------------------------------------


def test_intact_length_finds_the_last_complete_record(tmp_path: Path) -> None:
    path = tmp_path / "optuna.journal"
    whole = b'{"op_code":0}\n{"op_code":1,"x":[1,2]}\n'
    for tail, expected in [(b"", len(whole)), (b'{"op_code":4,"va', len(whole)), (b'{"op_code":4}\xff\n', len(whole))]:
        path.write_bytes(whole + tail)
        assert journal.intact_length(path) == expected
    path.write_bytes(b'{"op_co')  # not one complete record
    assert journal.intact_length(path) == 0


def test_appending_after_a_partial_record_loses_the_study_unless_it_is_repaired(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "optuna.journal"
    study = optuna.create_study(storage=_journal_storage(path), study_name="s")
    study.enqueue_trial({"x": 1.0})
    whole = path.read_bytes()
    cut = whole + whole.splitlines(keepends=True)[-1][:20]  # a writer killed mid-record
    damaged = tmp_path / "damaged.journal"
    damaged.write_bytes(cut)
    record = json.loads(whole.splitlines()[-1])
    for _ in range(2):  # the first record appended joins the partial one; after the next, nothing reads
        optuna.storages.journal.JournalFileBackend(str(damaged)).append_logs([record])
    with pytest.raises(ValueError):
        optuna.load_study(study_name="s", storage=_journal_storage(damaged))

    path.write_bytes(cut)
    with caplog.at_level(logging.INFO, logger="nas"):
        kept = journal.repair(path)
    assert kept is not None and kept.read_bytes() == cut and path.read_bytes() == whole
    assert [r.levelno for r in caplog.records] == [logging.WARNING] and str(kept) in caplog.records[0].getMessage()
    optuna.load_study(study_name="s", storage=_journal_storage(path)).enqueue_trial({"x": 2.0})
    assert len(optuna.load_study(study_name="s", storage=_journal_storage(path)).trials) == 2
    caplog.clear()
    assert journal.repair(path) is None and not caplog.records  # whole: left alone, silently


def _journal_storage(path: Path) -> optuna.storages.JournalStorage:
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))


def test_a_cut_journal_is_read_reported_and_resumed_without_loss(
    nas_cli, in_process, space_writer, ray_cluster, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "cut", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "cut")
    run.search(space_file, RunSettings(trials=3, results=tmp_path), stream=io.StringIO())
    whole = folder.journal.read_bytes()
    cut = whole + whole.splitlines(keepends=True)[-1][:25]
    folder.journal.write_bytes(cut)
    before = _trial_view(folder)  # Optuna still reads it
    assert len(before) == 3

    report = in_process(["report", str(folder.root), "--json"])
    assert report.returncode == 0, report.stderr[-2000:]
    assert folder.journal.read_bytes() == cut  # a report without --to-dashboard never writes the storage
    built = json.loads(report.stdout)
    assert any("Seed noise" in line for line in built["verdict"]) and built["labels"][0].startswith("space `cut`")

    resumed = nas_cli(*_search(space_file, tmp_path, ray_cluster.address, 4)[3:], "--json", timeout=SEARCH_TIMEOUT_S)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "ended in a record cut short" in resumed.stderr
    kept = list(tmp_path.glob("cut/optuna.journal.damaged-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == cut
    after = _trial_view(folder)
    assert {n: after[n] for n in before} == before and len(after) == 4
    summary = json.loads(resumed.stdout)
    assert summary["counts"]["finished"] == 4 and summary["paths"]["journal"] == str(folder.journal)
    complete = [t for t in studies.load_study(folder).get_trials() if t.state == optuna.trial.TrialState.COMPLETE]
    front = pareto.nondominated(np.array([t.values for t in complete]), [True, False])
    assert {row["number"] for row in summary["front"]} == {
        t.number for t, on in zip(complete, front, strict=True) if on
    }
    assert "0 running" in resumed.stderr.strip().splitlines()[-1]


# --- one search per study folder -----------------------------------------------------------------------------

HOLDER = """
import sys, time
from pathlib import Path
from nas.study import lock
from nas.study.folder import StudyFolder
with lock.hold(StudyFolder(Path(sys.argv[1]))):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_search_on_a_live_study_stops_naming_the_holder_and_a_dead_ones_lock_is_taken_over(
    nas_cli, space_writer, small_images, tmp_path, caplog
):
    space_file = space_writer(tmp_path, "busy", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "results" / "busy")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder.root)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        second = nas_cli("search", "--space", str(space_file), "--results", str(tmp_path / "results"))
        assert second.returncode == 2 and "Traceback" not in second.stderr
        assert f"process {holder.pid} on host {socket.gethostname()}" in second.stderr
        assert "is searching this study" in second.stderr
        fresh = nas_cli("search", "--space", str(space_file), "--results", str(tmp_path / "results"), "--fresh")
        assert fresh.returncode == 2 and folder.exists()  # a study in use is never moved aside
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with caplog.at_level(logging.INFO, logger="nas"), lock.hold(folder):  # the dead holder's flock went with it
        assert json.loads(folder.lock_file.read_text())["pid"] == os.getpid()
    assert f"took over the study lock of process {holder.pid}" in caplog.text


# --- one message, exit 2 -------------------------------------------------------------------------------------


def _study(tmp_path: Path, space_writer, small_images: Path) -> tuple[Path, StudyFolder]:
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "results" / "bad")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    return space_file, folder


def _case_results_is_a_file(tmp_path, space_writer, small_images):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    (tmp_path / "results").write_text("")
    return ["search", "--space", str(space_file), "--results", str(tmp_path / "results")], "is a file, not a folder"


def _case_results_under_a_file(tmp_path, space_writer, small_images):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    (tmp_path / "results").write_text("")
    return ["search", "--space", str(space_file), "--results", str(tmp_path / "results" / "x")], "is a file, not a"


def _case_bogus_storage(tmp_path, space_writer, small_images):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    args = ["search", "--space", str(space_file), "--results", str(tmp_path / "results"), "--storage", "bogus://x"]
    return args, "--storage bogus://x: Optuna cannot open it"


def _case_unreachable_cluster(tmp_path, space_writer, small_images):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    args = ["search", "--space", str(space_file), "--results", str(tmp_path / "results")]
    return [*args, "--address", f"127.0.0.1:{free_port()}"], "no Ray cluster answered within 30 s"


class QuietHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass  # the refused HTTP/2 preface is expected, not news


def _case_address_of_another_server(tmp_path, space_writer, small_images):
    space_file = space_writer(tmp_path, "bad", small_images, ["none", "ca"])
    web = http.server.HTTPServer(("127.0.0.1", 0), QuietHandler)
    threading.Thread(target=web.serve_forever, daemon=True).start()  # answers, in HTTP/1: Ray would wait for ever
    args = ["search", "--space", str(space_file), "--results", str(tmp_path / "results")]
    return [*args, "--address", f"127.0.0.1:{web.server_address[1]}"], "something listens there but it is not a Ray"


def _case_deleted_journal_search(tmp_path, space_writer, small_images):
    space_file, folder = _study(tmp_path, space_writer, small_images)
    folder.journal.unlink()
    return ["search", "--space", str(space_file), "--results", str(tmp_path / "results")], "storage is missing"


def _case_deleted_journal_report(tmp_path, space_writer, small_images):
    _, folder = _study(tmp_path, space_writer, small_images)
    folder.journal.unlink()
    return ["report", str(folder.root)], f"{folder.journal}: the study's storage is missing; restore it"


def _case_garbage_study_json(tmp_path, space_writer, small_images):
    _, folder = _study(tmp_path, space_writer, small_images)
    folder.study_record.write_text("{not json")
    return ["report", str(folder.root)], "study.json: not a study record"


def _case_study_with_construction_order_weights(tmp_path, space_writer, small_images):
    space_file, folder = _study(tmp_path, space_writer, small_images)
    record = json.loads(folder.study_record.read_text())
    del record["initial_weights"]  # as written before initial weights were seeded per module
    folder.study_record.write_text(json.dumps(record))
    args = ["search", "--space", str(space_file), "--results", str(tmp_path / "results")]
    return args, "drew their initial weights by 'construction-order', new trainings by 'module-path'"


def _case_dashboard_port_in_use(tmp_path, space_writer, small_images):
    _, folder = _study(tmp_path, space_writer, small_images)
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    _case_dashboard_port_in_use.keep = taken  # held until the command has run
    return ["dashboard", str(folder.root), "--port", str(taken.getsockname()[1])], "the address is in use"


def _case_dashboard_port_out_of_range(tmp_path, space_writer, small_images):
    _, folder = _study(tmp_path, space_writer, small_images)
    return ["dashboard", str(folder.root), "--port", "99999"], "must be a TCP port, 1 to 65535"


@pytest.mark.parametrize(
    "case",
    [
        _case_results_is_a_file,
        _case_results_under_a_file,
        _case_bogus_storage,
        _case_unreachable_cluster,
        _case_address_of_another_server,
        _case_deleted_journal_search,
        _case_deleted_journal_report,
        _case_garbage_study_json,
        _case_study_with_construction_order_weights,
        _case_dashboard_port_in_use,
        _case_dashboard_port_out_of_range,
    ],  # fmt: skip
    ids=lambda case: case.__name__.removeprefix("_case_"),
)
def test_bad_input_gives_one_message_and_exit_2(
    case, nas_cli, in_process, ray_cluster, space_writer, small_images, tmp_path
):
    # In this process, where Ray is imported already (ray_cluster), so that a command leaves the environment as it
    # is; one search in a fresh interpreter, where importing Ray must add nothing to the one message.
    args, message = case(tmp_path, space_writer, small_images)
    had_a_study = (tmp_path / "results" / "bad").exists()
    journals_before = sorted(tmp_path.rglob("optuna.journal"))
    result = nas_cli(*args, timeout=60) if case is _case_unreachable_cluster else in_process(args)
    assert result.returncode == 2, result.stderr[-2000:]
    assert message in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2  # argparse prints its usage line first
    assert sorted(tmp_path.rglob("optuna.journal")) == journals_before  # no empty journal made in its place
    if args[0] == "search" and not had_a_study:
        assert not (tmp_path / "results" / "bad").exists()  # no half-made study folder


# --- SIGTERM: a clean stop ------------------------------------------------------------------------------------


def test_sigterm_stops_a_search_cleanly_and_the_next_run_reruns_its_trials(
    nas_cli, space_writer, ray_cluster, small_images, tmp_path
):
    space_file = space_writer(tmp_path, "term", small_images, ["none", "ca"], iterations=150)
    folder = StudyFolder(tmp_path / "term")
    command = _search(space_file, tmp_path, ray_cluster.address, 2)
    searching = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not list(folder.logs.glob("trial-*.log")):
            time.sleep(0.1)
        assert list(folder.logs.glob("trial-*.log")), "no trial started within 120 s"
        searching.send_signal(signal.SIGTERM)
        _, stderr = searching.communicate(timeout=60)
    finally:
        searching.kill()  # a search that outlived its stop would keep the study locked
    assert searching.returncode == 130, stderr[-2000:]
    assert "run the same command again to resume it" in stderr
    assert_no_dump(stderr)
    assert not folder.lock_file.read_text()  # the lock was let go
    in_flight = {t.number for t in studies.load_study(folder).get_trials() if not t.state.is_finished()}
    assert in_flight

    run.search(space_file, RunSettings(trials=2, results=tmp_path), stream=io.StringIO())
    trials = {t.number: t for t in studies.load_study(folder).get_trials()}
    assert {n for n in in_flight if trials[n].user_attrs["outcome"] == Outcome.INTERRUPTED} == in_flight
    assert {trials[n].user_attrs.get("rerun_of") for n in trials} >= in_flight


# --- duplicates point to a trial that completed with the result ----------------------------------------------


def test_a_rerun_owns_its_interrupted_predecessors_result_and_later_duplicates_point_to_it(tmp_path: Path) -> None:
    folder = StudyFolder(tmp_path)
    folder.evaluations.mkdir()
    trained = {"outcome": "trained", "psnr": 31.5}
    store = EvaluationStore(folder, "run-1")
    calls = []

    def compute() -> dict:
        calls.append(1)
        return trained

    def keep(value: dict) -> bool:
        return TrialRecord.from_user_attrs(value).outcome is Outcome.TRAINED

    assert store.once("k", 0, compute, keep).duplicate_of is None  # trial 0 trains, then the search is killed
    resumed = EvaluationStore(folder, "run-2")
    rerun = resumed.once("k", 5, compute, keep, rerun_of=0)
    assert rerun.duplicate_of is None and rerun.value == trained  # the re-run's own result, not a duplicate
    assert resumed.once("k", 7, compute, keep).duplicate_of == 5  # not 0: trial 0 is recorded interrupted
    assert len(calls) == 1

    resumed.forget_results_of(5)  # trial 5's worker died after recording: nobody may point to it
    assert resumed.once("k", 8, compute, keep).duplicate_of is None and len(calls) == 2


# --- misleading messages and exposure ------------------------------------------------------------------------


def test_an_all_infeasible_study_is_told_its_constraints_exclude_every_trial(space_writer, small_images, tmp_path):
    space_file = space_writer(tmp_path, "heavy", small_images, ["none", "ca"], extra="constraints: {max_macs: 1.0e3}\n")
    folder = StudyFolder(tmp_path / "results" / "heavy")
    opened = lifecycle.open_study(folder, spaces.load(space_file), space_file, None)
    for _ in range(3):
        trial = opened.study.ask()
        for key, value in TrialRecord(outcome=Outcome.INFEASIBLE, error="infeasible: macs").to_user_attrs().items():
            trial.set_user_attr(key, value)
        opened.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    with pytest.raises(StudyError, match=r"constraints \(max_macs 1000\) exclude every trial so far \(3 infeasible"):
        build.build(folder)


@pytest.mark.parametrize("quiet", [False, True], ids=["default", "quiet"])
def test_dashboard_on_all_interfaces_warns_that_the_study_is_reachable(
    nas_cli, space_writer, small_images, tmp_path, quiet
):
    _, folder = _study(tmp_path, space_writer, small_images)
    port = free_port()
    command = [sys.executable, "-m", "nas", "dashboard", str(folder.root), "--host", "0.0.0.0", "--port", str(port)]
    server = subprocess.Popen(
        command + (["-q"] if quiet else []), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        warning = server.stderr.readline()
        assert warning.startswith("nas dashboard: warning: bound to 0.0.0.0")
        assert "anyone who can reach this machine" in warning
        if not quiet:
            assert server.stderr.readline().startswith("nas dashboard: no report yet; run `nas report --to-dashboard")
        assert "optuna-dashboard for study" in server.stdout.readline()  # serving: every message was said
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert server.returncode == 130
    assert ("no report yet" in server.stderr.read()) is False  # said once, or (-q) not at all


def test_plugin_files_a_search_imports_are_named(nas_cli, space_writer, small_images, tmp_path):
    plugin = Path(__file__).with_name("plugins") / "faulty_blocks.py"
    space_file = space_writer(tmp_path, "plug", small_images, ["none", "explode"], extra=f"plugins: [{plugin}]\n")
    result = nas_cli("search", "--space", str(space_file), "--results", str(tmp_path / "results"), "--storage", "x:/")
    assert f"imported plugin files {plugin}" in result.stderr and result.returncode == 2


def test_designed_runs_are_not_added_to_a_study_from_before_per_module_seeding(space_writer, small_images, tmp_path):
    _, folder = _study(tmp_path, space_writer, small_images)
    folder.require_current_initial_weights()  # a new study trains with today's scheme
    record = json.loads(folder.study_record.read_text())
    folder.study_record.write_text(json.dumps({k: v for k, v in record.items() if k != "initial_weights"}))
    with pytest.raises(StudyError, match="new runs can neither reuse nor be paired with them"):
        lifecycle.open_designed(folder, studies.Kind.EXPERIMENT, folder.space())
    assert studies.load_designed(folder, studies.Kind.EXPERIMENT) is None  # nothing was created in its storage


def test_reopening_a_designed_study_writes_nothing_to_its_journal(space_writer, small_images, tmp_path):
    _, folder = _study(tmp_path, space_writer, small_images)
    first = lifecycle.open_designed(folder, studies.Kind.EXPERIMENT, folder.space())
    assert first.study.metric_names == ["psnr", "macs"]  # named when created
    written = folder.journal.read_bytes()
    again = lifecycle.open_designed(folder, studies.Kind.EXPERIMENT, folder.space())  # a resumed experiment
    assert folder.journal.read_bytes() == written  # a committed, finished study stays as committed
    assert again.study.metric_names == ["psnr", "macs"] and again.study.study_name == first.study.study_name
