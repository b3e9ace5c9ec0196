"""``nas train`` at a budget of its own: options that replace the space's budget and data, recorded in the checkpoint;
a training killed with SIGKILL and resumed ends with the weights and PSNR of one never stopped, to the last bit; bad
options and unusable resumable states stop before any training with one message and exit status 2.

Every run is a real ``python -m nas train`` on one thread (a CPU run repeats exactly for a seed and a thread count).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from nas import cli
from nas.sr import data
from nas.trained import checkpoints

pytestmark = pytest.mark.slow  # real trainings: left out of the fast lane

ROOT = Path(__file__).resolve().parents[1]
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1"}
GENOTYPE = "x2.c16.u4:none-pa"
ITERATIONS = 150  # the space says 20: the options must win
EVERY = 10  # the killed run's resumable states; the unbroken run keeps the default (a tenth: 15)
READINGS = [40, 90, ITERATIONS]  # validated along the run; the kill comes after the first, a state carries it
OVERRIDES = ["--iterations", str(ITERATIONS), "--budgets", "40,90", "--batch-size", "3", "--patch-size", "12",
             "--lr", "2e-3"]  # fmt: skip


def nas_train(*args: str) -> list[str]:
    return [sys.executable, "-m", "nas", "train", *args]


def finished(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=ONE_THREAD, cwd=ROOT)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, small_images: Path, space_writer) -> dict[str, Path]:
    """A tiny space (20 iterations, batch 2, 16² patches, lr 1e-3) and a training folder it does not name: three
    48×48 crops of other built-in photographs."""
    folder = tmp_path_factory.mktemp("resume")
    other = folder / "other_train"
    other.mkdir()
    for image in data.builtin_images("train")[4:7]:
        Image.fromarray(image.pixels[:48, :48]).save(other / f"{image.name}.png")
    space = space_writer(folder, "resume", small_images, ["none", "pa"])
    return {"folder": folder, "space": space, "other": other, "images": small_images}


def training_args(setup: dict[str, Path], save: Path, *extra: str) -> list[str]:
    return nas_train(
        "--space", str(setup["space"]), "--genotype", GENOTYPE, "--device", "cpu", *OVERRIDES,
        "--train-data", str(setup["other"]), "--save", str(save), *extra,
    )  # fmt: skip


def test_a_killed_training_resumes_to_the_weights_and_psnr_of_an_unbroken_one(setup: dict[str, Path], capsys) -> None:
    folder = setup["folder"]
    unbroken = finished(training_args(setup, folder / "unbroken.pt", "--json"))
    assert unbroken.returncode == 0, unbroken.stderr
    whole = json.loads(unbroken.stdout)

    # The options' budget and data are the ones trained with, and the checkpoint says which the options replaced.
    saved = checkpoints.load(folder / "unbroken.pt").metadata
    assert saved["budget"] == {
        "iterations": 150, "budgets": [40, 90], "batch_size": 3, "patch_size": 12, "lr": 0.002, "seeds": [0],
        "min_gain_db": 0.5, "init": None,
    }  # fmt: skip
    assert saved["data"] == {"train": str(setup["other"].resolve()), "val": str(setup["images"].resolve())}
    assert saved["overridden"] == [
        "proxy.iterations", "proxy.budgets", "proxy.batch_size", "proxy.patch_size", "proxy.lr", "data.train"
    ]  # fmt: skip
    assert [reading["iterations"] for reading in whole["readings"]] == READINGS
    assert whole["readings"][-1]["psnr"] == whole["psnr"] and whole["gain_db"] == whole["psnr"] - whole["psnr_bicubic"]
    assert saved["psnr"] == whole["psnr"] and len(whole["loss_curve"]) == 50  # 150 iterations read in 50 windows
    assert "training 150 iterations" in unbroken.stderr and not (folder / "unbroken.pt.resume").exists()

    # Killed (SIGKILL: nothing runs after it) once -v says a resumable state past the first reading is written.
    save = folder / "resumed.pt"
    killed = subprocess.Popen(
        training_args(setup, save, "--checkpoint-every", str(EVERY), "-v"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=ONE_THREAD, cwd=ROOT,
    )  # fmt: skip
    try:
        assert killed.stderr is not None
        lines = iter(killed.stderr.readline, "")
        written = (line.split("state of iteration ")[1].split()[0] for line in lines if "state of iteration" in line)
        assert any(int(iteration) > READINGS[0] for iteration in written)
        killed.send_signal(signal.SIGKILL)
        assert killed.wait(timeout=60) == -signal.SIGKILL
    finally:
        killed.kill()
    assert not save.exists() and Path(f"{save}.resume").is_file()

    # The state is refused by another training, and when damaged; one message each, before any training.
    state = Path(f"{save}.resume")
    other_lr = [*training_args(setup, save, "--resume")[3:], "--lr", "1e-3"]
    assert cli.main(other_lr) == 2
    assert "budget.lr is 0.002 there, 0.001 here" in capsys.readouterr().err
    cut = folder / "cut.pt.resume"
    cut.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    assert cli.main(training_args(setup, folder / "cut.pt", "--resume")[3:]) == 2
    error = capsys.readouterr().err
    assert f"the resumable state {cut} cannot be read" in error and "weights_only=False" not in error

    resumed = finished(training_args(setup, save, "--resume", "--json"))
    assert resumed.returncode == 0, resumed.stderr
    start = int(resumed.stderr.split("resuming at iteration ")[1].split()[0])
    assert 0 < start < ITERATIONS and start % EVERY == 0
    progress = [line.split(" iteration ")[1].split()[0] for line in resumed.stderr.splitlines() if "%)" in line]
    assert progress == [f"{i}/150" for i in range(15, 151, 15) if i > start]  # the unbroken run's lines, from there
    again = json.loads(resumed.stdout)
    assert again["psnr"] == whole["psnr"] and again["ssim"] == whole["ssim"]
    assert again["loss_curve"] == whole["loss_curve"] and again["psnr_untrained"] == whole["psnr_untrained"]
    assert [r["psnr"] for r in again["readings"]] == [r["psnr"] for r in whole["readings"]]  # the state kept its own
    assert again["psnr"] > whole["psnr_untrained"] + 1  # it learned: equal numbers of a real training
    one, other = checkpoints.load(folder / "unbroken.pt"), checkpoints.load(save)
    assert one.metadata == other.metadata
    weights, resumed_weights = one.network.state_dict(), other.network.state_dict()
    assert all(torch.equal(weights[key], resumed_weights[key]) for key in weights)
    assert not state.exists()  # the trained network supersedes its state


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--iterations", "0"], ["--iterations: proxy.iterations: got 0; expected an integer from 1 to 10000000"]),
        (["--train-data", "missing"], ["--train-data: data.train: got 'missing'; folder", "does not exist"]),
        (["--resume"], ["--resume: the resumable state", "does not exist", "drop --resume to train from the start"]),
    ],
    ids=["zero-iterations", "missing-train-data", "resume-without-state"],
)
def test_bad_options_stop_before_training_with_one_message(setup: dict[str, Path], extra, words) -> None:
    save = setup["folder"] / "refused.pt"
    command = nas_train("--space", str(setup["space"]), "--genotype", GENOTYPE, "--save", str(save), *extra)
    result = finished(command)
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()  # no traceback, no progress: refused before any training
    assert line.startswith("nas train: error: ")
    for word in words:
        assert word in line, line
    assert not save.exists() and not Path(f"{save}.resume").exists()
