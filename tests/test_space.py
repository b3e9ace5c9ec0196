"""Search-space loading: every shipped space loads; broken and hostile files fail fast with one message."""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import names_reference, require_reference

from nas.core import initial_weights, pinned_spaces, spaces
from nas.core.settings import DataSources
from nas.search.store import evaluation_key

GENOTYPE = "x2.c16.u4:ca-none-lia"

SPACES = sorted((Path(__file__).resolve().parents[1] / "search_spaces").glob("*.yaml"))
VALID = """\
name: t
scale: 2
channels: 16
depth: 3
choices: [none, ca, lia]
proxy: {iterations: 10, batch_size: 2, patch_size: 16, lr: 1e-3, seeds: [0, 1]}
"""


def as_pinned(space: spaces.SearchSpace) -> spaces.SearchSpace:
    """``space`` as a study reads its pin back: its source file named as pinned (relative to the checkout where the
    file lies beside it, as a temporary folder does when the checkout lies in /tmp)."""
    return replace(space, source=pinned_spaces.pinned_path(space.source))


def write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "space.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


@pytest.mark.parametrize("path", SPACES, ids=lambda p: p.stem)
def test_every_shipped_space_loads(path: Path) -> None:
    if names_reference(path):
        require_reference()  # its parent and validation images are the reference data's
    loaded = spaces.load(path)
    assert loaded.name == path.stem
    assert loaded.objectives[0] == "psnr"


def test_a_pinned_space_names_files_in_and_beside_the_checkout_relative_to_it(tmp_path: Path) -> None:
    """A study folder pins no path of this machine where a relative one reads the same file in another clone;
    a path elsewhere stays as it is; reading the pin back gives the absolute paths again."""
    inside, beside = pinned_spaces.REPOSITORY / "tests", pinned_spaces.REPOSITORY.parent / "data-beside-the-checkout"
    loaded = replace(spaces.load(write(tmp_path, VALID)), data=DataSources(train=str(inside), val=str(beside)))
    pinned = pinned_spaces.to_json(replace(loaded, source=str(pinned_spaces.REPOSITORY / "search_spaces" / "t.yaml")))
    assert pinned["data"] == {"train": "tests", "val": f"../{beside.name}"}
    assert pinned["source"] == "search_spaces/t.yaml"
    assert pinned_spaces.from_json(pinned).data == loaded.data
    outside = Path(tmp_path.anchor) / "elsewhere-than-the-checkout" / "space.yaml"  # wherever the checkout lies
    elsewhere = pinned_spaces.to_json(replace(loaded, source=str(outside)))
    assert elsewhere["source"] == str(outside)  # outside the checkout's folder: as it was
    assert pinned_spaces.from_json(elsewhere).source == elsewhere["source"]


def test_further_validation_sources_are_pinned_and_enter_a_trainings_identity_only_when_given(tmp_path: Path) -> None:
    plain = spaces.load(write(tmp_path, VALID))
    also = spaces.load(write(tmp_path, VALID + f"data: {{val: {tmp_path}, also_val: [builtin]}}\n"))
    assert also.data.also_val == ("builtin",)
    assert pinned_spaces.from_json(pinned_spaces.to_json(also)).data == also.data
    assert "also_val" not in pinned_spaces.to_json(plain)["data"]  # as spaces pinned before it was there
    budget = plain.proxy.identity()
    before = [GENOTYPE, 0, initial_weights.SCHEME, budget, {"train": "builtin", "val": "builtin"}]
    unchanged = hashlib.sha256(json.dumps(before, sort_keys=True).encode()).hexdigest()[:24]
    assert evaluation_key(GENOTYPE, 0, plain.proxy, plain.data) == unchanged  # keys of trainings made before it
    assert evaluation_key(GENOTYPE, 0, also.proxy, also.data) != unchanged
    for text, message in (
        ("also_val: builtin", "data.also_val: got 'builtin'; expected a list of image folders"),
        ("also_val: [builtin, no-such-folder]", "data.also_val[1]: got 'no-such-folder'; folder"),
        ("also_val: [builtin]", "data.also_val[0]: got 'builtin'; a source data.val or data.also_val names already"),
    ):
        with pytest.raises(spaces.SpaceError, match=re.escape(message)):
            spaces.load(write(tmp_path, VALID + f"data: {{{text}}}\n"))


def test_valid_space_reads_yaml_exponents_as_numbers(tmp_path: Path) -> None:
    loaded = spaces.load(write(tmp_path, VALID))
    assert loaded.proxy.lr == pytest.approx(1e-3)  # YAML 1.1 reads "1e-3" as a string
    assert loaded.proxy.seeds == (0, 1)
    assert loaded.choices_at(1) == ("none", "ca", "lia")


BROKEN = [
    (VALID.replace("channels: 16", "chanels: 16"), "did you mean 'channels'"),
    (VALID.replace("[none, ca, lia]", "[none, ca, transformer]"), "choices[2]: got 'transformer'; allowed: none"),
    (VALID.replace("scale: 2", "scale: 5"), "scale: got 5; expected an integer from 2 to 4"),
    (VALID.replace("lr: 1e-3", "lr: fast"), "proxy.lr: got 'fast'; expected a number"),
    (VALID.replace("lr: 1e-3", "lr: -1"), "proxy.lr: got -1"),
    (VALID.replace("patch_size: 16", "patch_size: 5"), "block 'lia' needs patches of at least 7"),
    (VALID + "block_options: {shuffle: {groups: 3}}\n", "block_options.shuffle"),
    (VALID.replace("choices: [none, ca, lia]", "choices: [none, shuffle]") + "block_options: {shuffle: {groups: 3}}\n",
     "valid groups"),
    (VALID.replace("choices: [none, ca, lia]", "choices: [none, pam]").replace("patch_size: 16", "patch_size: 256"),
     "attends over all pixel pairs"),
    (VALID + "data: {train: /no/such/folder}\n", "data.train: got '/no/such/folder'; folder"),
    (VALID + "overrides: {7: [none]}\n", "overrides.7: got 7; expected an integer from 0 to 2"),
    (VALID + "objectives: [macs, psnr]\n", "psnr first"),
    (VALID + "search: {sampler: bayes}\n", "search.sampler: got 'bayes'"),
    (VALID.replace("depth: 3", "depth: 1e400"), "depth: got"),
    (VALID.replace("channels: 16", "channels: 99999999999999999999999999999999"), "channels: got"),
    ("name: t\n", "scale: got None; this key is required"),
    (VALID + "plugins: [my_blocks.py]\n", "plugins[0]: got 'my_blocks.py'; file"),
    (VALID + "plugins: [blocks]\n", "plugins[0]: got 'blocks'; expected the path of a Python file"),
]  # fmt: skip


def test_a_plugin_file_registers_blocks_the_space_can_choose(tmp_path: Path) -> None:
    plugin = Path(__file__).with_name("plugins") / "faulty_blocks.py"
    text = VALID.replace("[none, ca, lia]", "[none, explode]") + f"plugins: [{plugin}]\n"
    loaded = spaces.load(write(tmp_path, text))
    assert loaded.choices == ("none", "explode")
    assert loaded.plugins == (str(plugin),)
    assert spaces.load(write(tmp_path, text)).plugins == loaded.plugins  # a second load does not re-register


@pytest.mark.parametrize(("text", "message"), BROKEN)
def test_broken_spaces_name_the_key_the_value_and_what_is_allowed(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(spaces.SpaceError) as raised:
        spaces.load(path)
    assert str(path) in str(raised.value)
    assert message in str(raised.value)


ALIAS_BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(12)
)
HOSTILE = [
    (b"", "file is empty"),
    (b"   \n# only a comment\n", "file is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe binary", "not a text file"),
    (b"- name: t\n- scale: 2\n", "expected a mapping"),
    (b"name: [unclosed\n", "not valid YAML"),
    (ALIAS_BOMB.encode(), "anchors are not allowed"),  # refused at its first anchor, before any alias expands
    (b"name: &n t\nscale: 2\n", "anchors are not allowed \\(line 1\\)"),
    (b"name: t\nscale: 2\ndepth: 3\nscale: 4\n", "key 'scale' is given twice \\(line 4\\); keep one"),
    (b"name: t\nblock_options: {ca: {reduction: 2, reduction: 4}}\n", "key 'reduction' is given twice"),
    (b"name: t\nscale: !!python/object/apply:os.system [echo hacked]\n", "not valid YAML"),
    (b"x" * (spaces.MAX_FILE_BYTES + 1), "a search space is at most"),
]


@pytest.mark.parametrize(("content", "message"), HOSTILE, ids=lambda v: repr(v)[:20])
def test_hostile_files_fail_fast_and_cleanly(tmp_path: Path, content: bytes, message: str) -> None:
    start = time.perf_counter()
    with pytest.raises(spaces.SpaceError, match=message):
        spaces.load(write(tmp_path, content))
    assert time.perf_counter() - start < 2.0


def test_cli_reports_a_bad_space_with_status_2_and_no_traceback(nas_cli, tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("depth: 3", "depth: three"))
    result = nas_cli("cost", "--space", str(path), "--genotype", "uniform:ca")
    assert result.returncode == 2
    assert "depth: got 'three'" in result.stderr and "Traceback" not in result.stderr


EXPERIMENT = "experiment: {blocks: [ca], groups: [[0], [1, 2]], seeds: [7, 8], control: null}\n"
BROKEN_EXPERIMENTS = [
    (EXPERIMENT.replace("blocks: [ca]", "blocks: [transformer]"), "experiment.blocks[0]: got 'transformer'"),
    (EXPERIMENT.replace("blocks: [ca]", "blocks: [none]"), "not an attention choice of this space"),
    (
        EXPERIMENT.replace("[[0], [1, 2]]", "[[0], [1, 5]]"),
        "experiment.groups[1][1]: got 5; expected an integer",
    ),
    (EXPERIMENT.replace("[[0], [1, 2]]", "[[0, 1], [1, 2]]"), "groups must not overlap"),
    (
        EXPERIMENT.replace("seeds: [7, 8]", "seeds: []"),
        "experiment.seeds: got []; expected a list of at least two seeds",
    ),
    (EXPERIMENT.replace("seeds: [7, 8]", "seeds: [1, 8]"), "use seeds the search does not"),
    (EXPERIMENT.replace("control: null", "margin_db: -0.1, control: null"), "experiment.margin_db: got -0.1"),
    (EXPERIMENT.replace("control: null", "control: ca"), "experiment.control: got 'ca'; the control must not"),
    (EXPERIMENT.replace("control: null", "controls: null"), "experiment.controls: got 'controls'; unknown key"),
    (EXPERIMENT.replace("control: null", "kinds: [sideways]"), "experiment.kinds[0]: got 'sideways'"),
    (EXPERIMENT.replace("control: null", "kinds: [drop]"), "a drop arm is read against the uniform arm"),
    (EXPERIMENT.replace("control: null", "kinds: []"), "experiment.kinds: got []; expected a non-empty list"),
]


@pytest.mark.parametrize(("text", "message"), BROKEN_EXPERIMENTS)
def test_broken_experiment_sections_name_the_key_and_what_is_allowed(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(spaces.SpaceError, match=re.escape(message)):
        spaces.load(write(tmp_path, VALID + text))


def test_an_experiment_section_defaults_to_every_attention_choice_each_depth_and_four_fresh_seeds(
    tmp_path: Path,
) -> None:
    loaded = spaces.load(write(tmp_path, VALID + "experiment: {control: null}\n"))
    assert loaded.experiment.blocks == ("ca", "lia")
    assert loaded.experiment.groups == ((0,), (1,), (2,))
    assert loaded.experiment.seeds == (100, 101, 102, 103) and loaded.experiment.margin_db == 0.05
    assert loaded.experiment.kinds == ("uniform", "only", "drop")
    assert pinned_spaces.from_json(pinned_spaces.to_json(loaded)) == as_pinned(loaded)
    chosen = spaces.load(write(tmp_path, VALID + "experiment: {control: null, kinds: [only, uniform]}\n"))
    assert chosen.experiment.kinds == ("uniform", "only")
    assert pinned_spaces.from_json(pinned_spaces.to_json(chosen)) == as_pinned(chosen)


def test_the_documented_experiment_defaults_build_a_design_on_the_shipped_sr_tiny(tmp_path: Path) -> None:
    """Depth 0 of sr_tiny offers only none, ca and pa: the default groups leave out depths that do not offer every
    tested block, and blocks no control fits keep their other arms (the plan names the gaps)."""
    from nas.core.experiment_design import space_design

    shipped = (Path(__file__).parents[1] / "search_spaces" / "sr_tiny.yaml").read_text()
    text = re.sub(r"^experiment:.*$", "experiment: {}", shipped, flags=re.M).replace("builtin", str(tmp_path))
    design = space_design(spaces.load(write(tmp_path, text)))
    assert design.groups == ((1,), (2,), (3,)) and "a2b" in design.blocks
    assert ("cam", "mechanism") in {(gap.block, gap.control) for gap in design.gaps}
