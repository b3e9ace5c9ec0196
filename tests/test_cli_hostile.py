"""Hostile input to ``nas blocks / cost / train / eval`` as a user types it: one message, exit 2, no traceback.

Every case fails before any training or inference. The cases run ``nas.cli.main`` in this process, which is as
real as ``python -m nas`` but skips the 3-5 s interpreter start (an exception that escaped it would fail the test
as a traceback would); a plugin calling sys.exit, which used to end the command in silence, and one former
traceback run ``python -m nas`` in a subprocess. Ctrl-C is sent to a real ``nas train`` subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from PIL import Image

import blocks
from nas.core import genotypes, networks, pinned_spaces, spaces
from nas.study import lifecycle
from nas.study.folder import StudyError, StudyFolder
from nas.trained import checkpoints


class Pickled:
    """Any class: a checkpoint holding an instance needs code to load."""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory, small_images: Path, space_writer) -> dict[str, Path]:
    """The files the cases point at: spaces, checkpoints, image folders, a plugin."""
    folder = tmp_path_factory.mktemp("hostile")
    (folder / "exits.py").write_text("import sys\n\nsys.exit(3)\n")
    tiny_val = folder / "tiny_val"
    tiny_val.mkdir()
    Image.new("RGB", (12, 12), (90, 120, 30)).save(tiny_val / "speck.png")
    good = space_writer(folder, "good", small_images, ["none", "pa"])
    small_val = space_writer(folder, "small_val", small_images, ["none", "pa"])
    small_val.write_text(small_val.read_text().replace(f"val: {small_images}", f"val: {tiny_val}"))
    small_patch = space_writer(folder, "small_patch", small_images, ["none", "pa"])
    small_patch.write_text(small_patch.read_text().replace("patch_size: 16", "patch_size: 8"))
    torch.save({"weights": Pickled()}, folder / "code.pt")
    torch.save({"conv_first.weight": torch.full((2, 2), float("nan"))}, folder / "nan.pt")
    torch.save(networks.build(genotypes.a2n(2)).state_dict(), folder / "a2n.pt")  # untrained, but loads exactly
    plugged = plugged_study(folder, good)
    outputs = folder / "outputs"
    (outputs / "ablation.json").mkdir(parents=True)  # an output name taken by a folder
    ca_reduction = "block_options: {ca: {reduction"
    specks = folder / "specks"  # images below the protocol's smallest scored size only
    specks.mkdir()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(specks / "dot.png")
    Image.new("RGB", (12, 12), (90, 120, 30)).save(specks / "speck.png")
    mixed = folder / "mixed"  # scorable images and one too small to score
    mixed.mkdir()
    for image in [*small_images.glob("*.png"), specks / "speck.png"]:
        (mixed / image.name).write_bytes(image.read_bytes())
    torch.save(networks.build(genotypes.a2n(2)).state_dict(), folder / "a2n_x2.pt")  # its name states its scale
    deep = folder / "deep.yaml"  # a list nested 500 deep: YAML's composer recurses once per level
    deep.write_text(good.read_text().replace("choices: [none, pa]", "choices: " + "[" * 500 + "]" * 500))
    return {
        "good": good,
        "small_val": small_val,
        "small_patch": small_patch,
        "bad_options": space_writer(folder, "zero", small_images, ["ca"], extra=f"{ca_reduction}: 0}}}}\n"),
        "bool_option": space_writer(folder, "bool", small_images, ["ca"], extra=f"{ca_reduction}: on}}}}\n"),
        "exits": space_writer(folder, "exits", small_images, ["none"], extra="plugins: [exits.py]\n"),
        "code": folder / "code.pt",
        "nan": folder / "nan.pt",
        "folder": folder,
        "weights": folder / "a2n.pt",
        "images": small_images,
        "outputs": outputs,
        "plugged": plugged,
        "specks": specks,
        "mixed": mixed,
        "weights_x2": folder / "a2n_x2.pt",
        "deep": deep,
        **altered_checkpoints(folder),
        **damaged_studies(folder, small_images, space_writer),
    }  # fmt: skip


def altered_checkpoints(folder: Path) -> dict[str, Path]:
    """A checkpoint as ``nas train --save`` writes it (untrained: the weights do not matter here) and copies of it
    edited after saving: its scale and genotype moved to x3, which its tensors also fit; one of its tensors."""
    arch = genotypes.Genotype.parse("x2.c16.u4:pa*2")
    saved = folder / "net_x2.pt"
    checkpoints.save_network(saved, networks.build(arch), arch, seed=0)
    content = torch.load(saved, weights_only=True)
    metadata = json.loads(content["metadata"])
    rescaled = {**metadata, "scale": 3, "genotype": metadata["genotype"].replace("x2.", "x3.", 1)}
    torch.save({**content, "metadata": json.dumps(rescaled)}, folder / "rescaled.pt")
    state = dict(content["state_dict"])
    state["conv_first.weight"] = state["conv_first.weight"] + 1e-3
    torch.save({**content, "state_dict": state}, folder / "retouched.pt")
    return {"checkpoint": saved, "rescaled": folder / "rescaled.pt", "retouched": folder / "retouched.pt"}


JOURNAL_EXPERIMENT = "experiment: {blocks: [pa], groups: [[0], [1]], seeds: [5, 6], control: null}\n"


def damaged_studies(folder: Path, images: Path, space_writer) -> dict[str, Path]:
    """Study folders as ``nas search`` creates them (nothing trained): one whose journal holds a line of bad JSON in
    the middle, one with bytes that are not UTF-8 there, one whose report/ is a file, one whose report/index.html
    is a folder."""
    made = {}
    for name in ("bad_json", "bad_bytes", "report_file", "index_folder"):
        space_file = space_writer(folder, name, images, ["none", "pa"], extra=JOURNAL_EXPERIMENT)
        study = StudyFolder(folder / "studies" / name)
        lifecycle.open_study(study, spaces.load(space_file), space_file, None)
        made[name], made[f"{name}_space"] = study.root, space_file
    for name, bad in (("bad_json", b'{"op_code": 4, "study_id": 0, "user_att\n'), ("bad_bytes", b"\xff\xfe\x00\n")):
        journal = StudyFolder(made[name]).journal
        lines = journal.read_bytes().splitlines(keepends=True)
        journal.write_bytes(b"".join(lines[:2]) + bad + b"".join(lines[2:]))  # line 3 of a longer journal
    StudyFolder(made["report_file"]).report.write_text("notes\n")
    StudyFolder(made["index_folder"]).report_html.mkdir(parents=True)
    return made


def plugged_study(folder: Path, space_file: Path) -> Path:
    """A study folder whose pinned space names a plugin file that leaves a mark when it runs."""
    study = folder / "plugged"
    study.mkdir()
    plugin = folder / "marks.py"
    plugin.write_text("from pathlib import Path\n\nPath(__file__).with_suffix('.ran').write_text('ran')\n")
    document = pinned_spaces.to_json(spaces.load(space_file))
    (study / "space.json").write_text(json.dumps({**document, "plugins": [str(plugin)]}))
    (study / "study.json").write_text(json.dumps({"storage": "journal", "study_name": "plugged"}))
    return study


def genotype(files: dict[str, Path], text: str, command: str = "cost") -> list[str]:
    return [command, "--space", str(files["good"]), "--genotype", text]


def evaluation(files: dict[str, Path], *args: str) -> list[str]:
    return ["eval", "--arch", "a2n", "--scale", "2", "--data", str(files["images"]), *args]


REDUCTION = "reduction must be a positive integer up to 256"
# (id, the command's arguments, words its one message must hold). These used to end in a traceback or, for the
# plugin, in exit status 3 without a word: run as a user runs them, in a subprocess.
FORMER_TRACEBACKS = [
    ("zero-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=0)"), ["'ca'", REDUCTION, "got 0"]),
    ("huge-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=1e9)"), ["'ca'", REDUCTION, "got 1000000000.0"]),
    ("fraction-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=2.5)"), [REDUCTION, "got 2.5"]),
    ("list-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=[1,2])"), ["ca(reduction=...)", "single value"]),
    ("scale-5", lambda f: genotype(f, "x5.c16.u4:ca"), ["x5", "x2, x3 or x4"]),
    ("width-0", lambda f: genotype(f, "x2.c0.u4:ca"), ["c0", "from 1 to 256"]),
    ("upsampler-0", lambda f: genotype(f, "x2.c16.u0:ca"), ["u0", "from 1 to 256"]),
    ("depth-huge", lambda f: genotype(f, "x2.c16.u4:none*99999999999"), ["99999999999", "block count"]),
    ("device-cuda", lambda f: [*genotype(f, "uniform:pa", "train"), "--device", "cuda"], ["'cuda'", "available"]),
    ("device-foo", lambda f: [*genotype(f, "uniform:pa", "train"), "--device", "foo"], ["'foo'", "not a torch device"]),
    ("small-validation-image", lambda f: ["train", "--space", str(f["small_val"]), "--genotype", "uniform:pa"],
     ["speck", "12×12", "15×15"]),
    ("channels-huge", lambda f: ["blocks", "--channels", "100000"], ["--channels", "positive integer up to 256"]),
    ("eval-device", lambda f: evaluation(f, "--weights", str(f["weights"]), "--device", "cuda:0"), ["'cuda:0'"]),
]  # fmt: skip
# A plugin that ends the interpreter (and one former traceback) run in a process of their own.
OWN_PROCESS = [
    ("plugin-exits", lambda f: ["cost", "--space", str(f["exits"]), "--genotype", "uniform:none"],
     ["plugins[0]", "sys.exit(3)"]),
    ("depth-huge-own-process", lambda f: genotype(f, "x2.c16.u4:none*99999999999"), ["99999999999", "block count"]),
]  # fmt: skip
# These used to be accepted (wrong numbers or a silently different network) or were worded wrongly.
FORMERLY_ACCEPTED = [
    ("bool-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=true)"), ["'ca'", REDUCTION, "got True"]),
    ("wide-option", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=32)"), ["ca: reduction=32", "C=16"]),
    ("twice-group", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=4);ca(reduction=8)"), ["'ca'", "twice"]),
    ("twice-key", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=4,reduction=8)"), ["reduction", "twice"]),
    ("alias-and-name", lambda f: genotype(f, "x2.c16.u4:lia;lia(reduced=8,inner_channels=8)"), ["reduced", "once"]),
    ("depth-0", lambda f: genotype(f, "x2.c16.u4:none*0"), ["none*0", "1 or more"]),
    ("depth-65", lambda f: genotype(f, "x2.c16.u4:none*40-pa*25"), ["65 blocks", "1 to 64"]),
    ("space-option", lambda f: ["cost", "--space", str(f["bad_options"]), "--genotype", "uniform:ca"],
     ["block_options.ca", REDUCTION, "got 0"]),
    ("space-bool", lambda f: ["cost", "--space", str(f["bool_option"]), "--genotype", "uniform:ca"],
     ["block_options.ca", REDUCTION, "got True"]),
    ("scale-mismatch", lambda f: genotype(f, "x3.c24.u12:pa*5", "train"), ["×3", "×2", "x2 id"]),
    ("patch-misfit", lambda f: ["train", "--space", str(f["small_patch"]), "--genotype", "x2.c16.u4:pa-esa"],
     ["'esa'", "15×15", "patch_size is 8"]),
    ("seed-negative", lambda f: [*genotype(f, "uniform:pa", "train"), "--seed", "-1"], ["--seed", "from 0"]),
    ("space-directory", lambda f: ["cost", "--space", str(f["folder"]), "--genotype", "a2n"], ["is a directory"]),
    ("space-device", lambda f: ["cost", "--space", "/dev/null", "--genotype", "a2n"], ["not a regular file"]),
    ("input-range-0", lambda f: evaluation(f, "--weights", str(f["weights"]), "--input-range", "0"),
     ["--input-range", "positive"]),
    ("input-range-nan", lambda f: evaluation(f, "--weights", str(f["weights"]), "--input-range", "nan"),
     ["--input-range", "positive"]),
    ("input-range-negative", lambda f: evaluation(f, "--weights", str(f["weights"]), "--input-range", "-1"),
     ["--input-range", "positive"]),
    ("weights-nan", lambda f: evaluation(f, "--weights", str(f["nan"])), ["NaN or infinite", "conv_first.weight"]),
    ("weights-code", lambda f: evaluation(f, "--weights", str(f["code"])), ["pickled Python code", "never runs"]),
    ("weights-directory", lambda f: evaluation(f, "--weights", str(f["folder"])), ["is a directory"]),
    ("lr-folder-missing", lambda f: evaluation(f, "--weights", str(f["weights"]), "--lr-folder", "/nowhere"),
     ["LR image folder /nowhere does not exist"]),
]  # fmt: skip


def ablation(files: dict[str, Path], *args: str) -> list[str]:
    network = ["--arch", "a2n", "--scale", "2", "--weights", str(files["weights"])]
    return ["ablate", *network, "--data", str(files["images"]), *args]


def maps(files: dict[str, Path], *args: str) -> list[str]:
    return ["attention-maps", *ablation(files, *args)[1:]]


# A red team's corpus: inputs a careless or hostile user gave, each of which ran for minutes and then failed, ran
# unbounded, or was accepted and ignored. Each now stops before any work with one message (relative paths as typed).
RED_TEAM = [
    ("confirm-seeds-huge", lambda f: ["confirm", str(f["folder"]), "--seeds", "99999999999999999999"],
     ["--seeds", "up to 1000"]),
    ("confirm-top-huge", lambda f: ["confirm", str(f["folder"]), "--top", "10000000000"], ["--top", "up to 10000"]),
    ("search-trials-huge", lambda f: ["search", "--space", str(f["good"]), "--trials", "10000000000"],
     ["--trials", "up to 1000000"]),
    ("maps-images-huge", lambda f: maps(f, "--images", "99999999999"), ["--images", "up to 100000"]),
    ("tile-zero", lambda f: evaluation(f, "--weights", str(f["weights"]), "--tile", "0"), ["--tile", "up to 16384"]),
    ("maps-tile", lambda f: maps(f, "--tile", "64"), ["unrecognized arguments: --tile"]),
    ("ablate-out-file", lambda f: ablation(f, "--out", str(f["weights"])), ["--out", "is a file; pass a folder"]),
    ("ablate-out-relative-file", lambda f: ablation(f, "--out", os.path.relpath(f["weights"])),
     ["--out", "is a file; pass a folder"]),
    ("ablate-json-a-folder", lambda f: ablation(f, "--out", str(f["outputs"])), ["ablation.json is a folder"]),
    ("maps-out-proc", lambda f: maps(f, "--out", "/proc/nas-maps"), ["--out /proc/nas-maps", "cannot create"]),
    ("save-a-folder", lambda f: [*genotype(f, "uniform:pa", "train"), "--save", str(f["folder"])],
     ["--save", "is a folder; give a file path"]),
    ("save-empty", lambda f: [*genotype(f, "uniform:pa", "train"), "--save", ""], ["--save is empty"]),
    ("confirm-untrusted-plugin", lambda f: ["confirm", str(f["plugged"])], ["marks.py", "add --trust-plugins"]),
    ("checkpoint-and-range", lambda f: ["eval", "--checkpoint", str(f["weights"]), "--input-range", "255", "--data",
                                        str(f["images"])], ["--input-range is for --weights", "drop --input-range"]),
    # Silent wrong numbers: a checkpoint edited after saving, to a scale its tensors also fit, or in its tensors.
    ("checkpoint-rescaled", lambda f: ["eval", "--checkpoint", str(f["rescaled"]), "--data", str(f["images"])],
     ["rescaled.pt was altered after it was saved", "re-save it with nas train --save"]),
    ("checkpoint-retouched", lambda f: ["ablate", "--checkpoint", os.path.relpath(f["retouched"]), "--data",
                                        str(f["images"])], ["retouched.pt was altered", "re-save it with nas train"]),
    ("maps-checkpoint-rescaled", lambda f: ["attention-maps", "--checkpoint", os.path.relpath(f["rescaled"]),
                                            "--data", str(f["images"])], ["rescaled.pt was altered"]),
    # Images below the protocol's smallest scored size, and nothing else: every image is refused.
    ("maps-specks-only", lambda f: ["attention-maps", "--checkpoint", str(f["checkpoint"]), "--data",
                                    os.path.relpath(f["specks"])], ["no image is large enough to score at ×2",
                                                                    "4×4", "15×15 HR pixels"]),
    ("eval-specks-only", lambda f: ["eval", "--arch", "a2n", "--scale", "2", "--weights", str(f["weights"]), "--data",
                                    str(f["specks"])], ["no image is large enough to score at ×2", "15×15"]),
    ("ablate-specks-only", lambda f: ["ablate", "--checkpoint", os.path.relpath(f["checkpoint"]), "--data",
                                      str(f["specks"])], ["no image is large enough to score"]),
    # A journal damaged before its end: every command that reads it names the line and the repair.
    ("report-journal-bad-json", lambda f: ["report", str(f["bad_json"])],
     ["bad_json/optuna.journal: line 3 is not a journal record (not JSON)", "nothing was changed", "cp ",
      "sed -i '3d'", "head -n 2"]),
    ("report-journal-bad-bytes", lambda f: ["report", os.path.relpath(f["bad_bytes"])],
     ["bad_bytes/optuna.journal: line 3", "not UTF-8"]),
    ("confirm-journal-bad-json", lambda f: ["confirm", os.path.relpath(f["bad_json"])], ["optuna.journal: line 3"]),
    ("experiment-journal-bad-bytes", lambda f: ["experiment", "--space", str(f["bad_bytes_space"]), "--results",
                                                str(f["folder"] / "studies")], ["optuna.journal: line 3"]),
    ("experiment-plan-journal", lambda f: ["experiment", "--space", os.path.relpath(f["bad_json_space"]), "--results",
                                           os.path.relpath(f["folder"] / "studies"), "--plan"],
     ["optuna.journal: line 3"]),
    ("search-journal-bad-json", lambda f: ["search", "--space", os.path.relpath(f["bad_json_space"]), "--results",
                                           os.path.relpath(f["folder"] / "studies")], ["optuna.journal: line 3"]),
    # YAML nested deeper than any space: a limit, named, instead of a RecursionError.
    ("space-nested-500", lambda f: ["cost", "--space", str(f["deep"]), "--genotype", "a2n"],
     ["deep.yaml: not valid YAML", "nested more than 20 deep"]),
    ("search-space-nested-500", lambda f: ["search", "--space", os.path.relpath(f["deep"])],
     ["deep.yaml: not valid YAML", "nested more than 20 deep"]),
    ("genotype-option-nested-500", lambda f: genotype(f, "x2.c16.u4:ca;ca(reduction=" + "[" * 500 + "]" * 500 + ")"),
     ["ca(reduction=...)", "not a single value"]),
    # A report's folder taken by a file, or one of its files by a folder.
    ("report-folder-a-file", lambda f: ["report", str(f["report_file"])],
     ["report_file/report is a file where the report writes a folder", "move it aside"]),
    ("report-index-a-folder", lambda f: ["report", os.path.relpath(f["index_folder"])],
     ["index_folder/report/index.html is a folder where the report writes a file", "move it aside"]),
]  # fmt: skip


def assert_one_message(result: subprocess.CompletedProcess[str], words: list[str]) -> None:
    """Exit status 2, no traceback, and exactly one error line, holding every word."""
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output
    errors = [line for line in result.stderr.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], errors[0]
    assert "weights_only=False" not in output  # never the advice to run a checkpoint's code


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in FORMER_TRACEBACKS], ids=[c[0] for c in FORMER_TRACEBACKS])
def test_former_tracebacks_get_one_message_and_status_2(files, in_process, args, words) -> None:
    assert_one_message(in_process(args(files)), words)


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in OWN_PROCESS], ids=[c[0] for c in OWN_PROCESS])
def test_a_command_in_its_own_process_gets_one_message_and_status_2(nas_cli, files, args, words) -> None:
    assert_one_message(nas_cli(*args(files)), words)


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in RED_TEAM], ids=[c[0] for c in RED_TEAM])
def test_red_team_inputs_stop_before_any_work_with_one_message(files, in_process, args, words) -> None:
    started = time.perf_counter()
    assert_one_message(in_process(args(files)), words)
    assert time.perf_counter() - started < 20  # refused up front, not after an evaluation or a training


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in FORMERLY_ACCEPTED], ids=[c[0] for c in FORMERLY_ACCEPTED])
def test_formerly_accepted_input_gets_one_message_and_status_2(files, in_process, args, words) -> None:
    assert_one_message(in_process(args(files)), words)


def test_reading_a_study_runs_its_plugin_files_only_when_trusted(files) -> None:
    mark = files["folder"] / "marks.ran"
    with pytest.raises(StudyError, match="add --trust-plugins"):
        StudyFolder(files["plugged"]).space()
    assert not mark.exists()  # the refusal ran nothing
    assert StudyFolder(files["plugged"], plugins_trusted=True).space().plugins and mark.read_text() == "ran"


def test_ctrl_c_stops_a_training_run_with_one_line_and_status_130(files) -> None:
    command = [sys.executable, "-m", "nas", "train", "--space", str(files["good"]), "--genotype", "uniform:pa"]
    long_run = str(files["good"]).replace("good.yaml", "long.yaml")
    Path(long_run).write_text(files["good"].read_text().replace("iterations: 20", "iterations: 1000000"))
    command[command.index(str(files["good"]))] = long_run
    # A shell's background job starts with SIGINT ignored, which its children inherit and Python then leaves
    # ignored: start the command as a terminal does, with SIGINT's default (a handler here is reset in the child).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        # The first progress line comes once the data are read and the iterations start, inside the command's
        # handling of Ctrl-C: from then on any SIGINT, however soon, stops it with one line. No waiting on time.
        lines = iter(process.stderr.readline, "")
        assert any("training 1000000 iterations" in line for line in lines)
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert "Traceback" not in stderr and stdout == ""
    assert stderr.strip().splitlines()[-1] == "nas train: stopped"


def test_version_and_plain_help(in_process) -> None:
    import nas

    assert in_process(["--version"]).stdout.strip() == f"nas {nas.__version__}"
    shown = in_process(["--help"]).stdout
    assert "Search where attention belongs" in shown and "``" not in shown


def test_training_prints_progress_lines_where_stderr_is_no_terminal(files, in_process) -> None:
    result = in_process(["train", "--space", str(files["good"]), "--genotype", "uniform:pa", "--device", "cpu"])
    assert result.returncode == 0, result.stderr
    steps = [
        line.split(": iteration ")[1].split(",")[0] for line in result.stderr.splitlines() if ": iteration " in line
    ]
    # 20 iterations, the loss read back at every one: a line every 2 iterations (10 %).
    assert steps == [f"{i}/20 ({5 * i}%)" for i in range(2, 21, 2)]


def test_evaluation_prints_one_progress_line_per_image(files, in_process) -> None:
    result = in_process([*evaluation(files, "--weights", str(files["weights"])), "--json"])
    assert result.returncode == 0, result.stderr
    progress = [line for line in result.stderr.splitlines() if line.startswith("nas eval: image ")]
    assert [line.split()[3] for line in progress] == ["1/4", "2/4", "3/4", "4/4"]
    assert json.loads(result.stdout)["images"][0]["name"] in progress[0]


def test_channels_beyond_the_bound_are_refused_in_the_registry_too() -> None:
    with pytest.raises(blocks.BlockOptionError, match="from 1 to 256"):
        blocks.create("pa", blocks.MAX_CHANNELS + 1)


def warnings_of(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if ": warning: " in line]


def test_weights_run_at_a_scale_their_file_name_does_not_state_with_a_warning(files, in_process) -> None:
    network = ["--arch", "a2n", "--weights", os.path.relpath(files["weights_x2"]), "--data", str(files["images"])]
    for scale, warned in (("3", True), ("2", False)):
        result = in_process(["eval", *network, "--scale", scale, "--json"])
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["scale"] == int(scale)  # the run goes on: the scale is the user's to give
        said = [line for line in warnings_of(result) if "the weights file's name states" in line]
        assert said == (
            ["nas eval: warning: --scale 3 differs from the scale x2 that the weights file's name states (a2n_x2.pt); "
             "weights trained for another scale run at this one with plausible but wrong numbers: check --scale"]
            if warned else []
        )  # fmt: skip


def test_a_checkpoint_as_saved_loads_silently_and_one_from_before_hashes_with_a_warning(files, in_process) -> None:
    content = torch.load(files["checkpoint"], weights_only=True)
    metadata = json.loads(content["metadata"])
    assert len(metadata.pop("content_sha256")) == 64
    unhashed = files["folder"] / "unhashed.pt"
    torch.save({**content, "metadata": json.dumps(metadata)}, unhashed)  # as saved before checkpoints had a hash
    for path, warned in ((str(files["checkpoint"]), False), (os.path.relpath(unhashed), True)):
        result = in_process(["eval", "--checkpoint", path, "--data", str(files["images"]), "--json"])
        assert result.returncode == 0, result.stderr
        assert len(json.loads(result.stdout)["images"]) == 4
        said = [line for line in warnings_of(result) if "carries no content hash" in line]
        assert len(said) == warned and all("re-save it with nas train --save" in line for line in said)


@pytest.mark.parametrize("command", ["eval", "ablate", "attention-maps"])
def test_an_image_too_small_to_score_is_left_out_with_its_reason_and_the_json_stays_valid(
    files, in_process, command
) -> None:
    extra = ["--mode", "remove"] if command == "ablate" else []
    data = os.path.relpath(files["mixed"]) if command == "ablate" else str(files["mixed"])
    args = [command, "--checkpoint", str(files["checkpoint"]), "--data", data, "--json", *extra]
    result = in_process(args)
    assert result.returncode == 0, result.stderr
    record = json.loads(result.stdout)
    refused = record["refused_images"]
    assert [image["name"] for image in refused] == ["speck"]
    assert "12×12" in refused[0]["reason"] and "15×15" in refused[0]["reason"]
    assert [line for line in warnings_of(result) if "speck" in line] == [
        f"nas {command}: warning: image speck left out: {refused[0]['reason']}"
    ]
    scored = {
        "eval": lambda: [image["name"] for image in record["images"]],
        "ablate": lambda: [image["name"] for image in record["baseline"]["images"]],
        "attention-maps": lambda: record["images"],
    }[command]()
    assert len(scored) == 4 and "speck" not in scored


def test_a_journal_damaged_in_the_middle_is_left_as_it_was_by_every_command_that_reads_it(files, in_process) -> None:
    study = StudyFolder(files["bad_json"])
    before = study.journal.read_bytes()
    results = str(files["folder"] / "studies")
    commands = [
        ["report", str(study.root)],
        ["confirm", str(study.root)],
        ["experiment", "--space", str(files["bad_json_space"]), "--results", results],
        ["search", "--space", str(files["bad_json_space"]), "--results", results],
    ]
    for args in commands:
        assert_one_message(in_process(args), [f"{study.journal}: line 3", "nothing was changed"])
    assert study.journal.read_bytes() == before
    assert not list(study.root.glob("optuna.journal.*"))  # no repair ran, no copy was made


# --- Paths a user gives, and files the harness writes: one reader and one writer for every one of them ---


@pytest.fixture(scope="module")
def paths(files: dict[str, Path], small_images: Path, space_writer) -> dict[str, Path]:
    """A symbolic link loop, a named pipe, random bytes, a 3 GB sparse file of zeros (no disk used), a pickle of
    protocol 4, spaces whose proxy.init or data.val is one of these, a plugin registering a block whose name no id
    can hold, and files a link in an output's place points at."""
    folder = files["folder"] / "paths"
    folder.mkdir()
    loop = folder / "loop"
    loop.symlink_to(loop)
    os.mkfifo(folder / "fifo")
    (folder / "random.pt").write_bytes(bytes(range(7, 256)) * 16)
    with (folder / "zeros.pt").open("wb") as handle:
        handle.truncate(3 * 2**30)
    import pickle

    with (folder / "protocol4.pt").open("wb") as handle:
        pickle.dump({"conv_first.weight": torch.zeros(2)}, handle, protocol=4)
    made = {"folder": folder, "loop": loop, "fifo": folder / "fifo", "random": folder / "random.pt",
            "zeros": folder / "zeros.pt", "protocol4": folder / "protocol4.pt"}  # fmt: skip
    os.mkfifo(folder / "state.pt.resume")  # where the resumable state of --save state.pt goes
    for name, target in (("loop", loop), ("zero", Path("/dev/zero")), ("fifo", folder / "fifo"), ("dir", folder)):
        space_file = space_writer(folder, f"init_{name}", small_images, ["none", "a2b"])
        init = f"seeds: [0], init: {{weights: {target}, arch: a2n}}}}"
        space_file.write_text(space_file.read_text().replace("seeds: [0]}", init))
        made[f"init_{name}"] = space_file
    made["val_loop"] = space_writer(folder, "val_loop", small_images, ["none", "pa"])
    made["val_loop"].write_text(made["val_loop"].read_text().replace(f"val: {small_images}", f"val: {loop}"))
    for name, block in (("dash", "my-block"), ("upper", "PA2")):
        plugin = folder / f"{name}_block.py"
        plugin.write_text(f"import torch.nn\nimport blocks\n\nblocks.register({block!r}, paper='x')(lambda c: "
                          "torch.nn.Identity())\n")  # fmt: skip
        made[f"plugin_{name}"] = space_writer(folder, f"plugin_{name}", small_images, ["none"],
                                              extra=f"plugins: [{plugin}]\n")  # fmt: skip
    return made


def training(files: dict[str, Path], *args: str) -> list[str]:
    return ["train", "--space", str(files["good"]), "--genotype", "uniform:pa", "--device", "cpu", *args]


# (id, the command's arguments, words its one message must hold). Each used to end in a traceback, name the wrong
# problem, or be accepted (an empty path: the working folder); each is now refused before any work.
HOSTILE_PATHS = [
    # A symbolic link loop, wherever a path is given (a RuntimeError from pathlib, or "does not exist").
    ("init-loop", lambda f, p: ["cost", "--space", str(p["init_loop"]), "--genotype", "uniform:none"],
     ["proxy.init.weights", "symbolic link loop"]),
    ("val-loop", lambda f, p: ["cost", "--space", str(p["val_loop"]), "--genotype", "uniform:none"],
     ["data.val", "symbolic link loop"]),
    ("train-data-loop", lambda f, p: training(f, "--train-data", str(p["loop"])), ["--train-data", "link loop"]),
    ("eval-data-loop", lambda f, p: ["eval", "--checkpoint", str(f["checkpoint"]), "--data", str(p["loop"])],
     ["HR image folder", "symbolic link loop"]),
    ("export-study-loop", lambda f, p: ["export", str(p["loop"]), "--front", "--out", str(p["folder"] / "out")],
     ["study folder", "symbolic link loop"]),
    ("report-study-loop", lambda f, p: ["report", os.path.relpath(p["loop"])], ["study folder", "link loop"]),
    ("save-in-a-loop", lambda f, p: training(f, "--save", str(p["loop"] / "net.pt")),
     ["--save", "symbolic link loop"]),
    ("weights-loop", lambda f, p: evaluation(f, "--weights", str(p["loop"])), ["checkpoint", "symbolic link loop"]),
    # A --save that cannot be written: refused before training, not after it.
    ("save-dev-full", lambda f, p: training(f, "--save", "/dev/full"), ["--save /dev/full", "character device"]),
    ("save-proc", lambda f, p: training(f, "--save", "/proc/self/net.pt"),
     ["--save /proc/self/net.pt: cannot write in folder /proc/self"]),
    ("save-state-fifo", lambda f, p: training(f, "--save", str(p["folder"] / "state.pt")),
     ["--save", "state.pt.resume is not a regular file (a named pipe (FIFO))"]),
    # What a path is, said as it is (they read "file ... does not exist", "folder ... does not exist", "pickled code").
    ("init-dev-zero", lambda f, p: ["cost", "--space", str(p["init_zero"]), "--genotype", "uniform:none"],
     ["proxy.init.weights", "/dev/zero is not a regular file (a character device)"]),
    ("init-fifo", lambda f, p: ["cost", "--space", str(p["init_fifo"]), "--genotype", "uniform:none"],
     ["proxy.init.weights", "named pipe"]),
    ("init-folder", lambda f, p: ["cost", "--space", str(p["init_dir"]), "--genotype", "uniform:none"],
     ["proxy.init.weights", "is a directory, not a file"]),
    ("val-data-a-file", lambda f, p: training(f, "--val-data", "/etc/passwd"),
     ["--val-data", "/etc/passwd is a file, not a folder"]),
    ("weights-urandom", lambda f, p: evaluation(f, "--weights", "/dev/urandom"), ["not a regular file"]),
    ("weights-random-bytes", lambda f, p: evaluation(f, "--weights", str(p["random"])),
     ["random.pt is not a file that torch.save writes", "starting 07 08 09 0a"]),
    ("weights-3gb-zeros", lambda f, p: evaluation(f, "--weights", str(p["zeros"])),
     ["zeros.pt is not a file that torch.save writes", "3,221,225,472 bytes"]),
    ("weights-protocol-4", lambda f, p: evaluation(f, "--weights", str(p["protocol4"])),
     ["protocol4.pt is a pickle that torch's safe loader cannot read"]),
    ("checkpoint-fifo", lambda f, p: ["eval", "--checkpoint", str(p["fifo"]), "--data", str(f["images"])],
     ["checkpoint", "named pipe"]),
    # Empty paths: the working folder, silently.
    ("ablate-out-empty", lambda f, p: ablation(f, "--out", ""), ["--out", "is empty"]),
    ("export-out-empty", lambda f, p: ["export", "--checkpoint", str(f["checkpoint"]), "--out", ""],
     ["--out", "is empty"]),
    ("report-study-empty", lambda f, p: ["report", ""], ["study", "is empty"]),
    ("search-results-empty", lambda f, p: ["search", "--space", str(f["good"]), "--results", ""],
     ["--results", "is empty"]),
    ("eval-data-empty", lambda f, p: ["eval", "--checkpoint", str(f["checkpoint"]), "--data", ""],
     ["--data", "is empty"]),
    ("weights-empty", lambda f, p: evaluation(f, "--weights", ""), ["--weights", "is empty"]),
    # A plugin block whose name no genotype id can hold: refused when it registers, not in every trial.
    ("plugin-name-dash", lambda f, p: ["cost", "--space", str(p["plugin_dash"]), "--genotype", "uniform:none"],
     ["plugins[0]", "block name 'my-block' cannot appear in a genotype id", "'my_block'"]),
    ("plugin-name-upper", lambda f, p: ["cost", "--space", str(p["plugin_upper"]), "--genotype", "uniform:none"],
     ["plugins[0]", "block name 'PA2' cannot appear in a genotype id"]),
    # nas export without a study names the one choice that needs none.
    ("export-genotype-no-study", lambda f, p: ["export", "--genotype", "a2n", "--out", str(p["folder"] / "out")],
     ["give the study folder", "only --checkpoint exports without a study"]),
]  # fmt: skip


@pytest.mark.parametrize(("args", "words"), [c[1:] for c in HOSTILE_PATHS], ids=[c[0] for c in HOSTILE_PATHS])
def test_a_hostile_path_is_refused_before_any_work_with_one_message(files, paths, in_process, args, words) -> None:
    started = time.perf_counter()
    result = in_process(args(files, paths))
    assert_one_message(result, words)
    assert "Warning" not in result.stderr  # torch's own warnings (a pickle's protocol) precede no message
    assert time.perf_counter() - started < 20  # nothing trained, nothing read whole


def test_a_batch_that_cannot_fit_in_memory_is_refused_before_work_or_said_when_an_allocation_fails(
    files, in_process, monkeypatch
) -> None:
    from nas.core import memory
    from nas.core import training as trainer

    monkeypatch.setattr(memory, "available_memory", lambda device: 8 * 2**30)  # whatever this machine has
    huge = in_process(training(files, "--batch-size", "4096", "--patch-size", "200"))  # inside the documented ranges
    assert_one_message(huge, ["batch of 4096 patches of 200² LR pixels", "needs at least", "8.0 GiB free",
                              "--batch-size, --patch-size"])  # fmt: skip

    def allocation_fails(step) -> torch.Tensor:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory: you "
                           "tried to allocate 42949672960 bytes. Error code 12 (Cannot allocate memory)")  # fmt: skip

    monkeypatch.setattr(trainer.ProxyStep, "__call__", allocation_fails)
    failed = in_process(training(files))
    assert_one_message(failed, ["ran out of memory on cpu", "can't allocate memory", "lower the batch"])


def stopped_training(files: dict[str, Path], save: Path, in_process, monkeypatch) -> Path:
    """``nas train --save`` stopped by Ctrl-C after 12 of its 20 iterations: its resumable state, of iteration 10."""
    from nas.core import training as trainer

    step = trainer.ProxyStep.__call__
    calls = []

    def interrupted(self) -> torch.Tensor:
        calls.append(1)
        if len(calls) > 12:
            raise KeyboardInterrupt
        return step(self)

    with monkeypatch.context() as patched:
        patched.setattr(trainer.ProxyStep, "__call__", interrupted)
        assert in_process(training(files, "--save", str(save), "--checkpoint-every", "5")).returncode == 130
    return Path(f"{save}.resume")


@pytest.mark.parametrize("edit", ["schedule", "nan-weight"])
def test_a_resumable_state_altered_after_it_was_written_is_refused(files, in_process, monkeypatch, edit) -> None:
    save = files["folder"] / f"altered-{edit}.pt"
    state_file = stopped_training(files, save, in_process, monkeypatch)
    state = torch.load(state_file, weights_only=True)
    if edit == "schedule":  # another point of the cosine schedule: a silently different training
        state["step"]["schedule"]["last_epoch"] = 3
    else:  # a weight made NaN: read as a diverged run
        state["step"]["network"]["conv_first.weight"][0, 0, 0, 0] = float("nan")
    torch.save(state, state_file)
    result = in_process(training(files, "--save", str(save), "--resume"))
    assert_one_message(result, [f"{state_file} was altered after it was written", "drop --resume"])
    assert not save.exists()


def test_a_link_where_a_checkpoint_or_its_state_goes_is_replaced_and_its_target_kept(files, in_process) -> None:
    folder = files["folder"] / "links"
    folder.mkdir()
    kept = folder / "kept.txt"
    kept.write_text("not a checkpoint\n")
    save = folder / "net.pt"
    save.symlink_to(kept)
    result = in_process(training(files, "--save", str(save)))
    assert result.returncode == 0, result.stderr
    assert kept.read_text() == "not a checkpoint\n"  # the link was replaced, its target kept
    assert not save.is_symlink() and checkpoints.load(save).genotype == genotypes.Genotype.parse("x2.c16.u4:pa*2")
    loop = folder / "loop.pt"  # a link loop where the checkpoint goes: a link like any other
    loop.symlink_to(loop)
    assert in_process(training(files, "--save", str(loop))).returncode == 0
    assert not loop.is_symlink() and checkpoints.load(loop).genotype.scale == 2


def test_export_replaces_links_in_its_outputs_place_and_keeps_their_targets(files, in_process) -> None:
    from nas.trained import export

    out = files["folder"] / "exported-links"
    out.mkdir()
    written = export.ExportPaths.of(out, genotypes.Genotype.parse("x2.c16.u4:pa*2"))
    targets = {}
    for path in (written.program, written.record):
        targets[path] = files["folder"] / f"outside-{path.suffix[1:]}.txt"
        targets[path].write_text("outside --out\n")
        path.symlink_to(targets[path])
    result = in_process(["export", "--checkpoint", str(files["checkpoint"]), "--out", str(out), "--json"])
    assert result.returncode == 0, result.stderr
    for path, target in targets.items():
        assert target.read_text() == "outside --out\n" and not path.is_symlink()
    record = json.loads(written.record.read_text())
    assert record["study"] is None and record["weights"]["trained"]  # a checkpoint exports without a study
    program = torch.export.load(written.program).module()
    assert program(torch.rand(1, 3, 16, 16)).shape == (1, 3, 32, 32)
    with pytest.raises(RuntimeError, match="the batch must hold at least 1 image"):
        program(torch.rand(0, 3, 16, 16))


def test_released_weights_whose_name_states_no_scale_warn_and_record_the_scale_given(files, in_process) -> None:
    network = ["--arch", "a2n", "--weights", str(files["weights"]), "--data", str(files["images"])]  # a2n.pt
    for scale in ("2", "3"):
        result = in_process(["eval", *network, "--scale", scale, "--json"])
        assert result.returncode == 0, result.stderr
        assert [line for line in warnings_of(result) if "states no scale" in line] == [
            f"nas eval: warning: the weights file's name (a2n.pt) states no scale, so x{scale} (--scale) cannot be "
            "confirmed: A2N's weights have the same shapes at every scale, and weights of another scale run at this "
            f"one with plausible but wrong numbers; check it, or name the file with its scale (a2n_x{scale}.pt)"
        ]
    ablated = in_process(["ablate", *network, "--scale", "3", "--mode", "remove", "--groups", "0-15", "--json"])
    assert ablated.returncode == 0, ablated.stderr
    assert "x3 as given (the file's name states no scale)" in json.loads(ablated.stdout)["network"]
    assert checkpoints.released_a2n(2, files["weights_x2"]).metadata["scale_confirmed_by"] == "the file's name"


def test_a_trial_whose_genotype_cannot_be_read_in_the_worker_records_why(files, paths) -> None:
    from nas.search import worker
    from nas.search.store import EvaluationStore
    from nas.study.records import Outcome

    folder = StudyFolder(paths["folder"] / "worker-study")
    folder.evaluations.mkdir(parents=True)
    context = worker.TrialContext(spaces.load(files["good"]), EvaluationStore(folder, "run"), "cpu", 1)
    config = {worker.GENOTYPE: "x2.c16.u4:My.Block", worker.SEED: 0, worker.NUMBER: 0}
    record = worker.run(config, context)
    assert record.outcome is Outcome.FAILED and record.genotype == "x2.c16.u4:My.Block"
    assert record.error.startswith("GenotypeError: ") and "is not a block or block*count" in record.error


@pytest.mark.slow  # two designed experiments planned: about 20 s each on 2 cores
@pytest.mark.parametrize("seeds", [10_000, 109_900])  # the larger: as many as a space file's size limit holds
def test_an_experiment_of_ten_thousand_seeds_and_more_plans(files, in_process, seeds) -> None:
    space_file = files["folder"] / f"seeds_{seeds}.yaml"
    listed = ",".join(str(seed) for seed in range(100, 100 + seeds))
    text = files["good"].read_text().replace("name: good", f"name: seeds_{seeds}")
    space_file.write_text(f"{text}experiment: {{blocks: [pa], groups: [[0], [1]], seeds: [{listed}], control: null}}\n")
    assert len(space_file.read_bytes()) <= spaces.MAX_FILE_BYTES
    results = files["folder"] / "plans"
    result = in_process(["experiment", "--space", str(space_file), "--results", str(results), "--plan", "--json"])
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and f"{seeds}" in result.stdout


@pytest.mark.slow  # two builds of a published report: about 15 s each on 2 cores
def test_a_rebuilt_published_report_is_byte_identical(tmp_path, in_process) -> None:
    import shutil

    published = Path(__file__).resolve().parents[1] / "results" / "published" / "sr_light_scratch"
    study = tmp_path / "sr_light_scratch"
    shutil.copytree(published, study)
    built = []
    for _ in range(2):
        assert in_process(["report", str(study)]).returncode == 0
        built.append(
            {path.relative_to(study): path.read_bytes() for path in sorted(study.rglob("*")) if path.is_file()}
        )
    assert built[0] == built[1]
    html = built[1][Path("report/index.html")].decode()
    figures = html.split("<script")[2:]  # after plotly.js: each figure's data, from one JSON encoder
    assert 'id="experiment-plot-1"' in html and any("\\u00b1" in figure for figure in figures)
    assert not any("±" in figure for figure in figures)
