"""``nas export``: a study's genotypes as ``torch.export`` programs that run where neither ``nas`` nor ``blocks``
can be imported, and compute what the harness's network computes with the same weights."""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

from nas import cli
from nas.core import genotypes, networks, spaces, training
from nas.errors import InputError
from nas.report import study_export
from nas.study import lifecycle
from nas.study.folder import StudyFolder
from nas.study.records import Outcome, TrialRecord
from nas.trained import checkpoints, export

NONE, PA, MIXED = "x2.c16.u4:none*2", "x2.c16.u4:pa*2", "x2.c16.u4:esa-pa"
# (genotype, PSNR, MACs) of the study's search trials, in trial order: the uniform placements first (as the search
# enqueues them), then a mixed one that uniform:pa dominates. Front: uniform:none and uniform:pa.
TRIALS = [(NONE, 30.0, 1e9), (PA, 30.5, 2e9), ("x2.c16.u4:esa*2", 30.2, 3e9), (MIXED, 30.4, 2.5e9)]
WAITING = len(TRIALS)  # one more trial enqueued and never run: it has no genotype yet

# Run in a fresh interpreter: isolated (-I: no PYTHONPATH, no script folder on sys.path), started outside the
# repository, with an import hook that refuses nas and blocks wherever an installation would put them.
ISOLATED = r"""
import importlib.abc, sys

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("nas", "blocks"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, Refuse())
for name in ("nas", "blocks"):
    try:
        __import__(name)
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit(f"{name} was imported")
import torch

outputs, refused = {}, {}
for path, inputs in torch.load(sys.argv[2]).items():
    program = torch.export.load(path).module()
    with torch.no_grad():
        outputs[path] = [program(x) for x in inputs]
        try:
            program(torch.rand(1, 3, 7, 30))  # below every program's smallest LR side (8)
            refused[path] = False
        except Exception:
            refused[path] = True
torch.save({"outputs": outputs, "refused": refused}, sys.argv[1])
print(sorted(m for m in sys.modules if m.partition(".")[0] in ("nas", "blocks")))
"""


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory, space_writer, small_images: Path) -> StudyFolder:
    """A search study of four trained trials and one waiting (no Ray: the trials are told their results)."""
    root = tmp_path_factory.mktemp("export_study")
    space_file = space_writer(root, "tiny", small_images, ["none", "pa", "esa"])
    space = spaces.load(space_file)
    folder = StudyFolder(root / "results" / "tiny")
    opened = lifecycle.open_study(folder, space, space_file, None)
    for genotype, _, _ in TRIALS[3:] + TRIALS[3:]:  # the mixed one to run, then one to leave waiting
        opened.study.enqueue_trial(genotypes.to_params(genotypes.Genotype.parse(genotype)))
    for genotype, psnr, macs in TRIALS:
        trial = opened.study.ask()
        params = {key: trial.suggest_categorical(key, ["none", "pa", "esa"]) for key in ("d00", "d01")}
        assert str(genotypes.from_params(space, params)) == genotype  # the enqueued order
        record = TrialRecord.of(genotype=genotype, seed=0, outcome=Outcome.TRAINED, psnr=psnr, ssim=0.9, macs=macs,
                                params=1000.0, device="cpu", precision="fp32")  # fmt: skip
        for key, value in record.to_user_attrs().items():
            trial.set_user_attr(key, value)
        opened.study.tell(trial, [psnr, macs])
    return folder


def nas_export(*args: str) -> str:
    """``nas export ARGS`` in this process, which must succeed; what it printed."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert cli.main(["export", *args]) == 0
    return printed.getvalue()


def sample_inputs(*shapes: tuple[int, int, int, int]) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(3)
    return [torch.rand(shape, generator=generator) for shape in shapes]


@dataclass(frozen=True)
class Exports:
    front: dict[str, dict]  # genotype id → record, as --json printed it
    front_out: Path
    checkpoint: Path  # the checkpoint exported
    checkpoint_record: dict  # as its .json file holds it
    checkpoint_printed: str  # what nas export printed (text)
    inputs: dict[Path, list[torch.Tensor]]  # program → the inputs it ran on in the isolated interpreter
    outputs: dict[str, list[torch.Tensor]]  # str(program) → its outputs there
    refused: dict[str, bool]  # str(program) → whether it refused an input below its range


@pytest.fixture(scope="module")
def exports(study: StudyFolder, tmp_path_factory: pytest.TempPathFactory) -> Exports:
    """The study's front exported fresh, a checkpoint of the mixed genotype exported trained, and every program
    run in an interpreter that cannot import nas or blocks."""
    folder = tmp_path_factory.mktemp("exports")
    front_out = folder / "front"
    front = json.loads(nas_export(str(study.root), "--front", "--out", str(front_out), "--json"))["networks"]
    genotype = genotypes.Genotype.parse(MIXED)
    network = training.build_network(genotype, 7, "cpu").eval()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for parameter in network.parameters():  # weights no fresh network has, as a training leaves them
            parameter.add_(0.05 * torch.randn(parameter.shape, generator=generator))
    saved = folder / "mixed.pt"
    checkpoints.save_network(saved, network.to(memory_format=torch.contiguous_format), genotype, seed=7, psnr=30.4)
    checkpoint_out = folder / "checkpoint"
    printed = nas_export(str(study.root), "--checkpoint", str(saved), "--out", str(checkpoint_out))
    (record_file,) = checkpoint_out.glob("*.json")
    record = json.loads(record_file.read_text())
    inputs = {front_out / r["program"]["file"]: sample_inputs((1, 3, 8, 13), (3, 3, 37, 22)) for r in front}
    inputs[checkpoint_out / record["program"]["file"]] = sample_inputs((1, 3, 24, 27), (2, 3, 41, 30))
    torch.save({str(path): tensors for path, tensors in inputs.items()}, folder / "inputs.pt")
    command = [sys.executable, "-I", "-c", ISOLATED, str(folder / "outputs.pt"), str(folder / "inputs.pt")]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"  # nothing of nas or blocks was loaded
    ran = torch.load(folder / "outputs.pt")
    records = {r["genotype"]: r for r in front}
    return Exports(records, front_out, saved, record, printed, inputs, ran["outputs"], ran["refused"])


@pytest.mark.slow
@torch.no_grad()
def test_the_front_exports_fresh_networks_that_run_without_the_harness(exports: Exports) -> None:
    records, out = exports.front, exports.front_out
    assert sorted(records) == sorted([NONE, PA])  # uniform:esa and the mixed one are dominated
    for number, genotype in enumerate([NONE, PA]):
        record = records[genotype]
        assert json.loads((out / record["program"]["file"]).with_suffix(".json").read_text()) == record
        assert record["program"]["dynamic"] == {"batch": [1, None], "height": [8, 2048], "width": [8, 2048]}
        assert record["program"]["check"]["max_abs_difference"] <= 1e-4
        assert record["weights"]["trained"] is False and record["weights"]["seed"] == 0
        search = record["study"]["runs"]["search"]
        assert [(run["trial"], run["psnr"], run["seed"]) for run in search] == [(number, TRIALS[number][1], 0)]
        assert record["study"]["on_front"] is True and record["study"]["runs"]["confirmation"] == []
        built = networks.build(genotypes.Genotype.parse(genotype))
        assert record["cost"]["params"] == sum(p.numel() for p in built.parameters())
        assert record["cost"]["hr_size"] == [720, 1280] and record["cost"]["lr_size"] == [360, 640]
    assert records[PA]["cost"]["macs"] > records[NONE]["cost"]["macs"] > 0  # pa's gates cost multiply-adds

    for genotype, record in records.items():
        program = out / record["program"]["file"]
        harness = training.build_network(genotypes.Genotype.parse(genotype), 0, "cpu").eval()
        for x, y in zip(exports.inputs[program], exports.outputs[str(program)], strict=True):
            assert y.shape == (x.shape[0], 3, 2 * x.shape[2], 2 * x.shape[3])
            torch.testing.assert_close(y, harness(x))
        assert exports.refused[str(program)] is True

    if not all(importlib.util.find_spec(name) for name in export.ONNX_PACKAGES):
        for record in records.values():
            assert record["onnx"]["file"] is None and "not installed" in record["onnx"]["reason"]
        assert not list(out.glob("*.onnx"))
        return
    for record in records.values():
        assert (out / record["onnx"]["file"]).is_file()
    if importlib.util.find_spec("onnxruntime"):
        import onnxruntime

        session = onnxruntime.InferenceSession(str(out / records[PA]["onnx"]["file"]))
        harness = training.build_network(genotypes.Genotype.parse(PA), 0, "cpu").eval()
        for x in exports.inputs[out / records[PA]["program"]["file"]]:
            (y,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
            torch.testing.assert_close(torch.from_numpy(y), harness(x), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@torch.no_grad()
def test_a_checkpoint_exports_its_trained_weights_from_the_smallest_side_its_blocks_allow(
    exports: Exports,
) -> None:
    record, saved = exports.checkpoint_record, exports.checkpoint
    program = exports.checkpoint.parent / "checkpoint" / record["program"]["file"]
    assert f"{program}  (batch 1+, LR height and width 24 to 2048)" in exports.checkpoint_printed  # ESA: 24, not 8
    assert record["genotype"] == MIXED and record["program"]["dynamic"]["height"] == [24, 2048]
    weights = record["weights"]
    assert weights["trained"] is True and weights["checkpoint"] == str(saved.resolve())
    assert weights["sha256"] == hashlib.sha256(saved.read_bytes()).hexdigest()
    assert weights["metadata"]["seed"] == 7 and weights["metadata"]["genotype"] == MIXED
    assert record["study"]["on_front"] is False
    assert [(run["trial"], run["psnr"]) for run in record["study"]["runs"]["search"]] == [(3, 30.4)]

    loaded = checkpoints.load(saved).network
    fresh = training.build_network(genotypes.Genotype.parse(MIXED), 0, "cpu").eval()
    for x, y in zip(exports.inputs[program], exports.outputs[str(program)], strict=True):
        torch.testing.assert_close(y, loaded(x))
        assert (y - fresh(x)).abs().max() > 1e-3  # the checkpoint's weights, not a fresh network's
    assert exports.refused[str(program)] is True


class Branching(nn.Module):
    """A module whose path depends on its input's values: no program covers every input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2 if x.mean() > 0 else x


def test_a_block_that_cannot_be_exported_is_named_with_its_depth() -> None:
    genotype = genotypes.Genotype.parse("x2.c16.u4:none-pa")
    network = export.fresh_network(genotype, 0)
    network.slots[1] = Branching()  # in the place of depth 1's slot
    expected = r"block 'pa' \(depth 1\) cannot be exported with a dynamic batch, height and width from 8 to 2048 \("
    with pytest.raises(export.ExportError, match=expected):
        export.export_program(network, genotype)


def _waiting(study: StudyFolder, out: Path) -> list[str]:
    return [str(study.root), "--trial", str(WAITING), "--out", str(out)]


def _out_is_a_file(study: StudyFolder, out: Path) -> list[str]:
    out.write_text("keep me")
    return [str(study.root), "--front", "--out", str(out)]


def _program_name_is_a_folder(study: StudyFolder, out: Path) -> list[str]:
    stem = export.file_stem(genotypes.Genotype.parse(PA))
    (out / f"{stem}.pt2").mkdir(parents=True)
    return [str(study.root), "--genotype", "uniform:pa", "--out", str(out)]


CASES = {
    "no such trial": (lambda s, o: [str(s.root), "--trial", "99", "--out", str(o)], "trial 99 does not exist"),
    "a waiting trial": (_waiting, f"trial {WAITING} has no genotype yet (waiting)"),
    "unknown block": (lambda s, o: [str(s.root), "--genotype", "x2.c16.u4:nosuch-pa", "--out", str(o)], "nosuch"),
    "another scale": (lambda s, o: [str(s.root), "--genotype", "x3.c16.u4:pa*2", "--out", str(o)], "is ×3 but"),
    "not a choice": (lambda s, o: [str(s.root), "--genotype", "uniform:ca", "--out", str(o)], "not a choice of"),
    "missing study": (lambda s, o: [str(o.parent / "nowhere"), "--front", "--out", str(o)], "no study here"),
    "out is a file": (_out_is_a_file, "is a file; pass a folder"),
    "taken name": (_program_name_is_a_folder, ".pt2 is a folder; move it aside"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_with_one_message_before_any_export(
    case: str, study: StudyFolder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make, message = CASES[case]
    out = tmp_path / "exported"
    args = make(study, out)
    assert cli.main(["export", *args]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("nas export: error: ") and message in error[0], error
    assert not [path for path in tmp_path.rglob("*.pt2") if path.is_file()] and not list(tmp_path.rglob("*.json"))
    if case == "out is a file":
        assert out.read_text() == "keep me"


def test_a_study_export_is_one_library_call_that_refuses_what_the_command_refuses(
    study: StudyFolder, tmp_path: Path
) -> None:
    """``nas.report.study_export.export_study`` is ``nas export`` without the command line: the same checks, the same
    messages, before anything is written."""
    out = tmp_path / "exported"
    with pytest.raises(InputError, match=f"^{study.root}: trial 99 does not exist; pick a finished trial from 0 to 4"):
        study_export.export_study(study.root, study_export.Choice(trial=99), str(out))
    with pytest.raises(InputError, match="not a choice of"):
        study_export.export_study(study.root, study_export.Choice(genotype="uniform:ca"), str(out))
    assert not out.exists()
    with pytest.raises(ValueError, match="choose one of"):
        study_export.Choice(front=True, trial=1)
    space = study.space()
    with pytest.raises(InputError, match=r"\.json is a folder; move it aside or pass another --out"):
        (out / f"{export.file_stem(genotypes.Genotype.parse(PA))}.json").mkdir(parents=True)
        export.output_paths([genotypes.Genotype.parse(PA)], space, str(out))


def test_the_chosen_genotypes_are_the_fronts_a_trials_or_an_ids(study: StudyFolder) -> None:
    space = study.space()
    front = {PA, NONE}
    chosen = study_export.chosen_genotypes(study.root, study_export.Choice(front=True), space, [], front)
    assert [str(arch) for arch in chosen] == sorted(front)
    by_id = study_export.chosen_genotypes(study.root, study_export.Choice(genotype="uniform:pa"), space, [], front)
    assert [str(arch) for arch in by_id] == [PA]
    with pytest.raises(InputError, match="the search has no complete trial, so no front yet; let nas search run"):
        study_export.chosen_genotypes(study.root, study_export.Choice(front=True), space, [], set())


@pytest.mark.slow
def test_a_study_export_writes_each_network_with_the_studys_numbers(study: StudyFolder, tmp_path: Path) -> None:
    result = study_export.export_study(study.root, study_export.Choice(trial=1), str(tmp_path))
    (record,) = result.records
    assert record["genotype"] == PA and result.to_json()["out"] == str(tmp_path)
    assert json.loads((tmp_path / record["program"]["file"]).with_suffix(".json").read_text()) == record
    assert record["study"]["folder"] == str(study.root) and record["study"]["on_front"] is True
    assert [(run["trial"], run["psnr"]) for run in record["study"]["runs"]["search"]] == [(1, 30.5)]


def test_file_stems_are_safe_distinct_and_short() -> None:
    ids = ["x2.c16.u4:none*2", "x2.c16.u4:none-pa", "x2.c40.u24:ca*16;ca(reduction=4)", "x2.c16.u4:" + "-".join(
        ["ca", "pa", "esa", "lia", "cbam", "shuffle"] * 5)]  # fmt: skip
    stems = [export.file_stem(genotypes.Genotype.parse(text)) for text in ids]
    assert stems[0] == f"x2.c16.u4_none_2-{hashlib.blake2b(ids[0].encode(), digest_size=4).hexdigest()}"
    assert stems[2].startswith("x2.c40.u24_ca_16_ca_reduction_4-") and len(set(stems)) == len(ids)
    assert all(char.isalnum() or char in "._-" for stem in stems for char in stem)
    assert len(stems[3]) == export.STEM_LENGTH + 9 and len(ids[3]) > export.STEM_LENGTH + 9
