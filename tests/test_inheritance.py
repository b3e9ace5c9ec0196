"""Inherited proxies: candidates start from a trained parent (``proxy.init``), keeping every weight that fits."""

from __future__ import annotations

import dataclasses
import json
import pickle
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

import blocks
from nas import cli
from nas import study as studies
from nas.core import networks, pinned_spaces, spaces, training
from nas.core.genotypes import Genotype
from nas.search.store import evaluation_key
from nas.sr import data, evaluate
from nas.study.folder import StudyFolder
from nas.study.records import record_of
from nas.trained import checkpoints, parents

PARENT = Genotype.create(2, 16, 4, ["pa", "none", "pa"])  # the tiny spaces' shape: nf 16, upsampler 4


def trained_like(genotype: Genotype, seed: int) -> torch.nn.Module:
    """A network of ``genotype`` whose every weight differs from any seeded initial weight, as a trained one's."""
    torch.manual_seed(seed)
    network = networks.build(genotype)
    with torch.no_grad():
        for tensor in network.parameters():
            tensor.add_(0.05 * torch.randn_like(tensor))
    return network


@pytest.fixture(scope="module")
def parent_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A harness checkpoint of a tiny network whose every weight differs from any seeded initial weight."""
    path = tmp_path_factory.mktemp("parent") / "parent.pt"
    checkpoints.save_network(path, trained_like(PARENT, 7), PARENT)
    return path


def inherited_space(folder: Path, images: Path, init: str, extra: str = "", name: str = "inherited") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\nscale: 2\nchannels: 16\nupsampler_channels: 4\ndepth: 3\nchoices: [none, pa, ca, a2b]\n"
        f"proxy: {{iterations: 8, batch_size: 2, patch_size: 16, lr: 1.0e-4, seeds: [0], init: {init}}}\n"
        f"data: {{train: {images}, val: {images}}}\nobjectives: [psnr, macs]\n"
        "search: {sampler: random, trials: 4, seed: 0}\nresources: {cpu: 1}\n" + extra
    )
    return path


def test_the_rule_copies_what_fits_and_leaves_the_rest_seeded_bit_for_bit(parent_checkpoint: Path) -> None:
    parent = checkpoints.load(parent_checkpoint).network
    # Depth 0 as the parent (pa); ca where the parent has none; the A2N block where the parent has pa.
    child_genotype = Genotype.create(2, 16, 4, ["pa", "ca", "a2b"])
    child, inherited = training.inherited_network(child_genotype, 3, "cpu", parent)
    seeded = dict(training.build_network(child_genotype, 3, "cpu").named_parameters())
    theirs = dict(parent.named_parameters())
    fresh = {
        "slots.1.attention.conv_du.0", "slots.1.attention.conv_du.2",  # ca: the parent's slot 1 has no attention
        "slots.2.ADM.0", "slots.2.ADM.2", *(f"slots.2.attention.k{i}" for i in range(1, 5)),  # a2b's own modules
    }  # fmt: skip
    assert set(inherited.fresh_modules) == fresh
    for name, tensor in child.named_parameters():
        module = name.rsplit(".", 1)[0]
        expected = seeded[name] if module in fresh else theirs[name]
        assert torch.equal(tensor.detach(), expected.detach()), name
        if module not in fresh:  # the parent's values, not a seed's (a2b's conv_first among them: same class, shape)
            assert not torch.equal(tensor.detach(), seeded[name].detach()), name
    fresh_parameters = sum(t.numel() for n, t in child.named_parameters() if n.rsplit(".", 1)[0] in fresh)
    assert inherited.parameters == sum(t.numel() for t in child.parameters())
    assert inherited.share == pytest.approx(1 - fresh_parameters / inherited.parameters)
    assert child.input_range == parent.input_range


def test_an_attention_slot_in_place_of_an_a2b_keeps_the_a2n_blocks_convolutions(reference: Path) -> None:
    a2n = checkpoints.released_a2n(2, reference / "a2n" / "a2n_x2_official.pt").network
    child_genotype = Genotype.create(2, 40, 24, ["pa"] + ["a2b"] * 15)
    child, inherited = training.inherited_network(child_genotype, 0, "cpu", a2n)
    for part in ("conv_first", "non_attention", "conv_last"):
        assert torch.equal(child.get_submodule(f"slots.0.{part}").weight, a2n.get_submodule(f"slots.0.{part}").weight)
    assert inherited.fresh_modules == ("slots.0.attention.conv",)
    assert child.input_range == 255.0  # the released weights' pixel range carries over


@pytest.mark.slow  # two Set5 evaluations of A2N
def test_a_child_equal_to_the_released_a2n_scores_its_38_058_db_before_fine_tuning(reference: Path) -> None:
    weights = reference / "a2n" / "a2n_x2_official.pt"
    released = checkpoints.released_a2n(2, weights)
    pairs = data.evaluation_pairs(data.folder_images(reference / "set5" / "HR"), 2)
    published = evaluate.evaluate(released.network, pairs, 2, "cpu").mean_psnr  # what nas eval computes
    space = spaces.parse({
        "name": "a2n_inherited", "scale": 2, "channels": 40, "upsampler_channels": 24, "depth": 16,
        "choices": ["none", "a2b"], "data": {"train": "builtin", "val": str(reference / "set5" / "HR")},
        "proxy": {"iterations": 1, "batch_size": 2, "patch_size": 16, "init": {"weights": str(weights), "arch": "a2n"}},
    })  # fmt: skip
    parent = parents.network(space)
    _, result = training.train_network(released.genotype, space.proxy, space.data, 0, device="cpu", parent=parent)
    assert result.psnr_untrained == published == pytest.approx(38.058, abs=0.001)
    assert result.inherited_share == 1.0 and result.fresh_modules == ()


def test_the_parents_content_not_its_path_is_part_of_every_trainings_identity(tmp_path, parent_checkpoint) -> None:
    moved = tmp_path / "moved.pt"
    moved.write_bytes(parent_checkpoint.read_bytes())
    keys = []
    for file in (parent_checkpoint, moved):
        space = spaces.load(inherited_space(tmp_path, tmp_path, f"{{checkpoint: {file}}}"))
        keys.append(evaluation_key("x2.c16.u4:pa*3", 0, space.proxy, space.data))
    changed = dataclasses.replace(space.proxy, init=dataclasses.replace(space.proxy.init, sha256="0" * 64))
    scratch = dataclasses.replace(space.proxy, init=None)
    assert keys[0] == keys[1]  # moved: the same training
    assert evaluation_key("x2.c16.u4:pa*3", 0, changed, space.data) != keys[0]  # another parent: another training
    assert evaluation_key("x2.c16.u4:pa*3", 0, scratch, space.data) != keys[0]


def mean_gate_over(network: torch.nn.Module, path: str, images: list[np.ndarray]) -> torch.Tensor:
    """The gate passing the probe at ``path``, every pixel of every image stacked, averaged per channel."""
    seen: list[torch.Tensor] = []
    handle = network.get_submodule(path).register_forward_hook(lambda _m, _i, gate: seen.append(gate))
    with torch.no_grad():
        for image in images:
            network.eval()(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
    handle.remove()
    return torch.cat([gate.permute(1, 0, 2, 3).flatten(1) for gate in seen], dim=1).double().mean(dim=1)


def test_a_mechanism_control_starts_at_the_parents_mean_gate_where_the_parent_has_that_gate(parent_checkpoint) -> None:
    parent = checkpoints.load(parent_checkpoint).network
    images = [np.random.default_rng(n).integers(0, 256, (10 + n, 12, 3), dtype=np.uint8) for n in range(3)]
    # fixed_pa where the parent has pa (depth 0), and where it has none (depth 1): only the first has a gate to copy.
    child_genotype = Genotype.create(2, 16, 4, ["fixed_pa", "fixed_pa", "pa"])
    child, _ = training.inherited_network(child_genotype, 3, "cpu", parent, images)
    expected = mean_gate_over(parent, "slots.0.attention.gate", images)
    started = torch.sigmoid(child.get_submodule("slots.0.attention.gate").logit.double()).flatten()
    assert (expected - 0.5).abs().max() > 0.05  # a start that differs from 0.5, so the test can tell them apart
    assert torch.allclose(started, expected, rtol=1e-5, atol=1e-7)
    assert torch.equal(child.get_submodule("slots.1.attention.gate").logit, torch.zeros(1, 16, 1, 1))  # at 0.5
    halfway, _ = training.inherited_network(child_genotype, 3, "cpu", parent)  # no images: the start at 0.5
    assert torch.equal(halfway.get_submodule("slots.0.attention.gate").logit, torch.zeros(1, 16, 1, 1))


def test_where_constant_gates_start_is_part_of_the_identity_and_older_pinned_spaces_started_at_half(
    tmp_path, parent_checkpoint
) -> None:
    default = spaces.load(inherited_space(tmp_path, tmp_path, f"{{checkpoint: {parent_checkpoint}}}"))
    half = spaces.load(inherited_space(tmp_path, tmp_path, f"{{checkpoint: {parent_checkpoint}, gate_start: half}}"))
    assert default.proxy.init.gate_start == "parent mean" and half.proxy.init.gate_start == "half"
    assert half.proxy.init.identity() == {"sha256": half.proxy.init.sha256, "arch": None}  # as before the choice
    keys = {evaluation_key("x2.c16.u4:fixed_pa*3", 0, space.proxy, space.data) for space in (default, half)}
    assert len(keys) == 2
    pinned = pinned_spaces.to_json(default)
    del pinned["proxy"]["init"]["gate_start"]  # a space pinned before the choice existed
    assert pinned_spaces.from_json(pinned).proxy.init.gate_start == "half"
    with pytest.raises(spaces.SpaceError, match=re.escape("proxy.init.gate_start: got 'middle'")):
        spaces.load(inherited_space(tmp_path, tmp_path, f"{{checkpoint: {parent_checkpoint}, gate_start: middle}}"))


@pytest.mark.parametrize("channels", [16, 40])
def test_the_capacity_control_of_a_trained_a2b_adds_the_attention_branchs_parameters_within_10_percent(channels):
    attention = sum(t.numel() for t in blocks.create("a2b", channels).attention.parameters())
    plain = sum(t.numel() for t in blocks.create("plain_a2b", channels).attention.parameters())
    assert attention == 28 * channels**2 + channels and abs(plain - attention) <= 0.1 * attention


def test_the_capacity_control_in_place_of_a_trained_a2b_inherits_all_but_its_branch() -> None:
    parent = trained_like(Genotype.create(2, 16, 4, ["a2b", "none", "a2b"]), 3)
    child_genotype = Genotype.create(2, 16, 4, ["plain_a2b", "none", "a2b"])
    child, inherited = training.inherited_network(child_genotype, 3, "cpu", parent)
    theirs, seeded = (
        dict(parent.named_parameters()),
        dict(training.build_network(child_genotype, 3, "cpu").named_parameters()),
    )
    for name, tensor in child.named_parameters():
        source = seeded if name.startswith("slots.0.attention.") else theirs
        assert torch.equal(tensor.detach().cpu().contiguous(), source[name].detach().cpu().contiguous()), name
    assert set(inherited.fresh_modules) == {"slots.0.attention.expand", "slots.0.attention.project"}


def test_the_freshness_control_in_place_of_a_trained_a2b_starts_its_branch_as_a_from_scratch_a2b() -> None:
    parent = trained_like(Genotype.create(2, 16, 4, ["a2b", "none", "a2b"]), 4)
    child_genotype = Genotype.create(2, 16, 4, ["a2b", "none", "fresh_a2b"])
    child, inherited = training.inherited_network(child_genotype, 7, "cpu", parent)
    theirs = dict(parent.named_parameters())
    from_scratch = training.build_network(Genotype.create(2, 16, 4, ["a2b", "none", "a2b"]), 7, "cpu")
    scratch = dict(from_scratch.named_parameters())
    branch = [name for name, _ in child.named_parameters() if name.startswith("slots.2.attention.")]
    assert len(branch) == 5  # k1..k4 and k2's bias: the branch, and nothing else of the block, starts fresh
    for name, tensor in child.named_parameters():
        source = scratch if name in branch else theirs
        assert torch.equal(tensor.detach().cpu(), source[name].detach().cpu()), name
    assert set(inherited.fresh_modules) == {f"slots.2.attention.k{i}" for i in range(1, 5)}
    assert not torch.equal(theirs["slots.2.attention.k1.weight"], scratch["slots.2.attention.k1.weight"])
    # Without a parent the control is the block itself, bit for bit, at the same seed and path.
    fresh_from_scratch = training.build_network(child_genotype, 7, "cpu").state_dict()
    assert fresh_from_scratch.keys() == from_scratch.state_dict().keys()
    assert all(torch.equal(fresh_from_scratch[k], from_scratch.state_dict()[k]) for k in fresh_from_scratch)


class Payload:
    """A class a pickle names: loading it would run code."""


def hostile_parents(folder: Path, good: Path) -> dict[str, tuple[str, str]]:
    """init: values and the words their one-line refusal holds."""
    (folder / "noise.pt").write_bytes(b"not a torch file at all")
    torch.save({"conv.weight": torch.zeros(3)}, folder / "unfitting.pt")
    with (folder / "code.pt").open("wb") as handle:
        pickle.dump({"state_dict": Payload()}, handle)
    wide = Genotype.create(2, 8, 4, ["pa", "none", "pa"])
    checkpoints.save_network(folder / "narrow.pt", networks.build(wide), wide)
    (folder / "a2n_x3.pt").write_bytes((good.parent / "a2n_x2_official.pt").read_bytes())
    for name, text in (("esa.pt", "x2.c16.u4:esa-none-pa"), ("reduced.pt", "x2.c16.u4:ca-none-pa;ca(reduction=4)")):
        other = Genotype.parse(text)
        checkpoints.save_network(folder / name, networks.build(other), other)
    return {
        "missing": ("{checkpoint: nowhere.pt}", "proxy.init.checkpoint: got 'nowhere.pt'; file"),
        "both": (f"{{checkpoint: {folder / 'narrow.pt'}, arch: a2n}}", "expected {weights: FILE, arch: a2n}"),
        "arch": (f"{{weights: {good}, arch: rcan}}", "proxy.init.arch: got 'rcan'"),
        "noise": (f"{{checkpoint: {folder / 'noise.pt'}}}", "proxy.init: checkpoint"),
        "unfitting": (f"{{weights: {folder / 'unfitting.pt'}, arch: a2n}}", "missing keys"),
        "code": (f"{{checkpoint: {folder / 'code.pt'}}}", "code"),
        "shape": (f"{{checkpoint: {folder / 'narrow.pt'}}}", "channels 8 (the space: 16)"),
        "scale": (f"{{weights: {folder / 'a2n_x3.pt'}, arch: a2n}}", "states scale x3 in its name"),
        "not-a-choice": (f"{{checkpoint: {folder / 'esa.pt'}}}", "the parent has 'esa' at depth 0, which is not a"),
        "options": (f"{{checkpoint: {folder / 'reduced.pt'}}}", "set block_options.ca to the parent's"),
    }


def test_hostile_parents_stop_nas_train_with_one_message(capsys, tmp_path, small_images, reference) -> None:
    good = reference / "a2n" / "a2n_x2_official.pt"
    for name, (init, words) in hostile_parents(tmp_path, good).items():
        space = inherited_space(tmp_path, small_images, init, name=name)
        status = cli.main(["train", "--space", str(space), "--genotype", "x2.c16.u4:pa*3"])  # as the command runs
        stderr = capsys.readouterr().err
        errors = [line for line in stderr.splitlines() if ": error: " in line]
        assert status == 2 and "Traceback" not in stderr, (name, stderr)
        assert len(errors) == 1 and words in errors[0], (name, errors)
        assert "weights_only=False" not in stderr


@pytest.mark.slow  # real trainings on a local Ray
def test_a_search_and_an_experiment_on_an_inherited_space_survive_kill_and_resume(
    nas_cli, in_process, ray_cluster, small_images, tmp_path, parent_checkpoint, killed_run, trainings_of
) -> None:
    experiment = "experiment: {blocks: [pa], groups: [[0], [2]], seeds: [5, 6], margin_db: 0.05, control: null}\n"
    space_file = inherited_space(tmp_path, small_images, "{checkpoint: parent.pt}", experiment)
    (tmp_path / "parent.pt").write_bytes(parent_checkpoint.read_bytes())  # relative to the space file
    results = tmp_path / "results"
    folder = StudyFolder(results / "inherited")
    plan = json.loads(in_process(["experiment", "--space", str(space_file), "--results", str(results), "--plan",
                                  "--json"]).stdout)  # fmt: skip
    labels = {arm["label"] for arm in plan["arms"]}
    # The parent; pa removed at 0 and 2 (pa in place of pa changes nothing); its mechanism control in place of the
    # parent's blocks (fixed_pa: the parent's pa with its gate constant). The capacity control is off.
    assert labels == {"parent", "pa drop 0", "pa drop 2", "fixed_pa only 0", "fixed_pa only 2"}
    command = [sys.executable, "-m", "nas", "experiment", "--space", str(space_file), "--results", str(results),
               "--address", ray_cluster.address]  # fmt: skip
    killed_run(command, folder.trials_csv_of(studies.Kind.EXPERIMENT), rows=3)
    resumed = subprocess.run(command, capture_output=True, text=True, timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    trainings = trainings_of(folder, studies.Kind.EXPERIMENT)
    assert len(trainings) == len(set(trainings)) == 10  # 5 arms × 2 seeds, none trained twice
    records = [record_of(t) for t in studies.load_designed(folder, studies.Kind.EXPERIMENT).get_trials()]
    by_arm = {r.arm: r for r in records if r.psnr is not None}
    assert by_arm["parent"].inherited_share == 1.0 and by_arm["parent"].fresh_modules == ()
    fixed = by_arm["fixed_pa only 0"]  # everything inherited but the constant gate's logit
    assert 0.99 < fixed.inherited_share < 1.0 and fixed.fresh_modules == ("slots.0.attention.gate",)
    search = nas_cli("search", "--space", str(space_file), "--results", str(results), "--address",
                     ray_cluster.address, "--json", timeout=400)  # fmt: skip
    assert search.returncode == 0, search.stderr[-2000:]
    baselines = {r.baseline for r in map(record_of, studies.load_study(folder).get_trials()) if r.baseline}
    assert "parent" in baselines  # the parent joins the uniform baselines
    report = in_process(["report", str(folder.root), "--json"])
    assert report.returncode == 0, report.stderr[-2000:]
    section = (folder.root / "report" / "report.md").read_text().split("## Designed experiment")[1]
    assert "every arm a change of the trained parent x2.c16.u4:pa-none-pa (proxy.init)" in section


def test_a_parent_changed_or_gone_after_the_space_was_read_is_refused_by_name(tmp_path, parent_checkpoint) -> None:
    copy = tmp_path / "parent.pt"
    copy.write_bytes(parent_checkpoint.read_bytes())
    space = spaces.load(inherited_space(tmp_path, tmp_path, "{checkpoint: parent.pt}"))
    assert parents.network(space) is not None
    copy.write_bytes(copy.read_bytes() + b"\0")  # edited since: another parent
    with pytest.raises(spaces.SpaceError, match="changed since the space was read"):
        parents.network(space)  # the hash is checked on every call, in a long-lived worker too
    copy.unlink()
    moved = dataclasses.replace(space.proxy, init=dataclasses.replace(space.proxy.init, sha256="1" * 64))
    with pytest.raises(spaces.SpaceError, match="cannot read .*parent.pt"):
        parents.network(dataclasses.replace(space, proxy=moved))
