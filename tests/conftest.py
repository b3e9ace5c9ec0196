from __future__ import annotations

import functools
import gc
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

# The golden data (Set5, MATLAB LR, released A2N weights) beside the checkout, where the shipped space files name
# it. A user's clone has none of it; NAS_TEST_REFERENCE points the tests elsewhere (a missing folder: run as such a
# clone does, every test that needs the data skipped with one reason).
BESIDE_CHECKOUT = Path(__file__).resolve().parents[1].parent / "shared" / "reference"
REFERENCE = Path(os.environ.get("NAS_TEST_REFERENCE", BESIDE_CHECKOUT))


def require_reference() -> Path:
    """The reference folder, or a skip with the one reason every test that needs it gives."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (it lies beside the checkout, in ../shared/reference)")
    return REFERENCE


def names_reference(space_file: Path) -> bool:
    """Whether a space file names a file or folder of the reference data beside the checkout (``proxy.init``,
    ``data``): such a space loads only where that data is."""

    def strings(value: object) -> list[str]:
        if isinstance(value, dict):
            return [text for item in value.values() for text in strings(item)]
        if isinstance(value, list):
            return [text for item in value for text in strings(item)]
        return [value] if isinstance(value, str) else []

    named = strings(yaml.safe_load(space_file.read_text()))
    return any((space_file.parent / value).resolve().is_relative_to(BESIDE_CHECKOUT) for value in named)


@pytest.fixture(scope="session")
def reference() -> Path:
    """The shared golden data (Set5, MATLAB LR, released A2N weights) beside the project."""
    return require_reference()


def run_nas(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``nas ARGS`` as a user runs it: a real subprocess, its output captured."""
    return subprocess.run([sys.executable, "-m", "nas", *args], capture_output=True, text=True, timeout=timeout)


def assert_no_dump(stderr: str) -> None:
    """A command stopped by a signal said its one line: no traceback and no crash handler's dump."""
    for dump in ("Traceback", "Fatal Python error", "*** SIGTERM received", "Stack trace"):
        assert dump not in stderr


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now (the test binds or names it next)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def short_collections():
    """statsmodels' Holm adjustment runs gc.collect(); freezing the objects the imports made keeps it short in
    modules that analyse thousands of simulated experiments."""
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture(scope="session")
def nas_cli():
    """``run_nas``: the command line in a subprocess."""
    return run_nas


def run_nas_in_process(args: list[str], capsys: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess[str]:
    """``nas ARGS`` through ``nas.cli.main`` in this process (as real, without the 3-5 s interpreter start), as a
    completed process; an exception that escapes the command fails the test as a traceback would."""
    from nas import cli

    try:
        status = cli.main(args)
    except SystemExit as stop:  # argparse's usage errors
        status = stop.code
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, captured.out, captured.err)


@pytest.fixture
def in_process(capsys: pytest.CaptureFixture[str]):
    """``run_nas_in_process`` with this test's captured output: the command line in the test process."""
    return functools.partial(run_nas_in_process, capsys=capsys)


@pytest.fixture(scope="session")
def ray_cluster():
    """One Ray instance for the whole test session: two nodes of one CPU each on 127.0.0.1.

    Searches in the test process use it directly; ``nas search --address`` subprocesses join it.
    """
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    from nas.search import run

    run.quiet_process()  # as `nas search` runs: no Tune files or tables besides the study folder's

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    cluster.add_node(num_cpus=1)
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    yield cluster
    ray.shutdown()
    cluster.shutdown()


@pytest.fixture(scope="session")
def small_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of four 64×64 HR crops of the built-in photos: tiny training and validation sets for searches."""
    from PIL import Image

    from nas.sr import data

    folder = tmp_path_factory.mktemp("small_images")
    for image in data.builtin_images("train")[:4]:
        Image.fromarray(image.pixels[:64, :64]).save(folder / f"{image.name}.png")
    return folder


def write_space(
    folder: Path,
    name: str,
    images: Path,
    choices: list[str],
    *,
    depth: int = 2,
    iterations: int = 20,
    seeds: tuple[int, ...] = (0,),
    extra: str = "",
    min_gain_db: float | None = None,
) -> Path:
    """A tiny space (nf 16, patches 16²) trained and validated on ``images``; ``min_gain_db``: its proxy.min_gain_db
    (None: the default; its networks, too small to learn, then answer nothing)."""
    bar = "" if min_gain_db is None else f", min_gain_db: {min_gain_db}"
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nscale: 2\nchannels: 16\nupsampler_channels: 4\ndepth: {depth}\n"
        f"choices: [{', '.join(choices)}]\n"
        f"proxy: {{iterations: {iterations}, batch_size: 2, patch_size: 16, lr: 1.0e-3, seeds: {list(seeds)}{bar}}}\n"
        f"data: {{train: {images}, val: {images}}}\n"
        "objectives: [psnr, macs]\nsearch: {sampler: nsga2, trials: 6, seed: 0}\nresources: {cpu: 1}\n" + extra
    )
    return path


@pytest.fixture(scope="session")
def space_writer():
    """``write_space``: tiny search spaces for search and report tests."""
    return write_space


def recorded_trainings(logs: list[Path]) -> list[tuple[str, int]]:
    """(genotype, seed) of every training these trial logs show trained and recorded: its loss curve, then its
    outcome ``trained`` (written once its result is in the evaluation store). A worker that a kill stops between
    the two trained a network no study holds, and the resumed run trains it again: that is no retraining."""
    done = []
    for log in logs:
        first, *rest = log.read_text().splitlines()
        words = first.split()  # date time trial N: GENOTYPE seed SEED on DEVICE
        trained = any("loss curve:" in line for line in rest)
        recorded = any(line.split(maxsplit=3)[2:3] == ["trained"] for line in rest)
        if trained and recorded:
            done.append((words[4], int(words[6])))
    return done


def designed_trainings(folder, kind) -> list[tuple[str, int]]:
    """``recorded_trainings`` of ``folder``'s designed runs of ``kind``."""
    return recorded_trainings(sorted(folder.logs.glob(f"{kind.value}-trial-*.log")))


def kill_once_rows_exist(command: list[str], csv: Path, rows: int, timeout: float = 240) -> None:
    """Starts ``command`` and kills it (SIGKILL) once ``csv`` holds ``rows`` lines, or after ``timeout`` seconds."""
    running = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (not csv.exists() or len(csv.read_text().splitlines()) < rows):
        time.sleep(0.2)
    running.send_signal(signal.SIGKILL)
    running.wait()


@pytest.fixture(scope="session")
def killed_run():
    """``kill_once_rows_exist``: a command line run until its CSV has rows, then killed with SIGKILL."""
    return kill_once_rows_exist


@pytest.fixture(scope="session")
def trainings_of():
    """``designed_trainings``: the (genotype, seed) trainings of a folder's designed runs, from its trial logs."""
    return designed_trainings
