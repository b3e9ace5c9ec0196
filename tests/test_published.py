"""The published studies (results/published/): their committed files rebuild the committed verdicts exactly.

Each study folder is copied and reported with ``nas report`` (the committed folder is only read); the rebuilt
``experiment.json`` must equal the committed one and the rebuilt report the committed report's experiment section.
The READMEs' sections on the published experiments must quote the committed effects.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import require_reference

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results" / "published"
STUDIES = ("sr_light_inherited", "sr_light_scratch", "sr_light_scratch_200it")
BELOW_BICUBIC = "sr_light_scratch_200it"  # kept as a record: its networks had not learned, so it answers nothing
# results/README.md quotes every effect of a study, or of the families named here (its report lists the rest).
QUOTED_IN_FULL: dict[str, frozenset[str] | None] = {
    "sr_light_inherited": None,
    "sr_light_scratch": frozenset({"attention"}),
    BELOW_BICUBIC: frozenset(),
}
COMMITTED = ("space.yaml", "space.json", "study.json", "optuna.journal", "trials-experiment.csv", "environment.json")


def assert_same(rebuilt: object, committed: object, where: str = "experiment.json") -> None:
    """Equal words, structure and integers; floats equal to 1e-9 relative (another BLAS may round the last bits)."""
    if isinstance(committed, float):
        assert rebuilt == pytest.approx(committed, rel=1e-9, abs=1e-12), where
    elif isinstance(committed, dict):
        assert isinstance(rebuilt, dict) and rebuilt.keys() == committed.keys(), where
        for key in committed:
            assert_same(rebuilt[key], committed[key], f"{where}.{key}")
    elif isinstance(committed, list):
        assert isinstance(rebuilt, list) and len(rebuilt) == len(committed), where
        for index, (new, old) in enumerate(zip(rebuilt, committed, strict=True)):
            assert_same(new, old, f"{where}[{index}]")
    else:
        assert rebuilt == committed, where


def experiment_section(markdown: str) -> str:
    return markdown.split("## Designed experiment", 1)[1]


@pytest.mark.parametrize("name", STUDIES)
def test_the_committed_study_rebuilds_its_committed_verdict(name: str, tmp_path: Path, in_process) -> None:
    committed = PUBLISHED / name
    if names_reference_data(committed):
        require_reference()  # the design is rebuilt from the parent the space names: A2N's released weights
    for file in COMMITTED:
        assert (committed / file).is_file(), f"{name}: {file} is not committed"
    copy = tmp_path / name
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("report"))
    report = in_process(["report", str(copy)])
    assert report.returncode == 0, report.stderr
    rebuilt = json.loads((copy / "report" / "experiment.json").read_text())
    assert_same(rebuilt, json.loads((committed / "report" / "experiment.json").read_text()))
    assert rebuilt["verdict"], "a published experiment states its verdict"
    rebuilt_markdown = (copy / "report" / "report.md").read_text()
    assert str(ROOT.parent) not in rebuilt_markdown, "a report names the paths of its checkout, not of this machine"
    assert experiment_section(rebuilt_markdown) == experiment_section((committed / "report" / "report.md").read_text())


@pytest.mark.parametrize("name", STUDIES)
def test_the_pinned_space_holds_no_path_of_the_machine_it_ran_on(name: str) -> None:
    pinned = json.loads((PUBLISHED / name / "space.json").read_text())
    paths = [pinned["source"], *pinned["data"].values(), *pinned["plugins"]]
    if pinned["proxy"]["init"]:
        paths.append(pinned["proxy"]["init"]["path"])
    assert not [path for path in paths if path.startswith(("/", "~"))]
    for page, quoted_path in (("report.md", r"`/[^`]*"), ("index.html", r"<code>/[^<]*")):
        absolute = re.findall(quoted_path, (PUBLISHED / name / "report" / page).read_text())
        assert not absolute, f"{name}/report/{page} names a path of the machine it was built on: {absolute}"


def names_reference_data(study: Path) -> bool:
    """Whether a study's pinned space names the reference data beside the checkout (its parent's weights, its
    validation images): it pins them as ``../shared/reference/...``."""
    space = json.loads((study / "space.json").read_text())
    named = [*space["data"].values(), (space["proxy"]["init"] or {}).get("path", "")]
    return any(path.startswith("../shared/reference/") for path in named)


def effect_numbers(experiment: dict, families: frozenset[str] | None = None) -> dict[str, tuple[str, str, str]]:
    """Per effect label (of ``families``, or all): its estimate and simultaneous interval as the READMEs write them
    (+0.000 dB)."""
    return {
        effect["label"]: tuple(f"{effect[key]:+.3f}" for key in ("estimate_db", "low_db", "high_db"))
        for effect in experiment["effects"]
        if families is None or effect["family"] in families
    }


def quoted_effects(markdown: str, heading: str) -> list[tuple[str, ...]]:
    """The (label, estimate, low, high) of every effect row (its label a difference of arms, "A - B") of the section
    under ``heading``."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    row = r"^\| ([^|]+? - [^|]+?) \| ([+-]\d+\.\d{3}) \[([+-]\d+\.\d{3}), ([+-]\d+\.\d{3})\] \|"
    return re.findall(row, section, re.M)


# The fewest effects of each study the guide quotes (none of the study whose networks scored below bicubic);
# results/README.md quotes them as QUOTED_IN_FULL says.
GUIDE_QUOTES = {"sr_light_inherited": 5, "sr_light_scratch": 6, BELOW_BICUBIC: 0}


@pytest.mark.parametrize(
    ("readme", "heading", "every_effect"),
    [("README.md", "## What the harness found", False), ("results/README.md", "## The published experiments", True)],
)
def test_the_readmes_quote_the_committed_effects(readme: str, heading: str, every_effect: bool) -> None:
    experiments = {name: json.loads((PUBLISHED / name / "report" / "experiment.json").read_text()) for name in STUDIES}
    studies = {name: effect_numbers(experiment) for name, experiment in experiments.items()}
    quoted = quoted_effects((ROOT / readme).read_text(), heading)
    for name, numbers in studies.items():
        # A quoted row is a study's effect with that study's numbers; an effect label two studies share (none
        # do today) would have to match one of them.
        mine = {row[0] for row in quoted if row[0] in numbers and tuple(row[1:]) == numbers[row[0]]}
        if every_effect:
            expected = effect_numbers(experiments[name], QUOTED_IN_FULL[name])
            assert mine >= set(expected), f"{readme} leaves effects of {name} out: {sorted(set(expected) - mine)}"
        else:
            assert len(mine) >= GUIDE_QUOTES[name], f"{readme} quotes {len(mine)} effects of {name}"
    for label, *interval in quoted:
        assert any(numbers.get(label) == tuple(interval) for numbers in studies.values()), (
            f"{readme}: {label!r} {interval} is no effect of a published study"
        )


def one_line(path: Path) -> str:
    """A markdown file's words on one line: a quoted phrase may wrap anywhere."""
    return " ".join(path.read_text().split())


def findings() -> str:
    return (ROOT / "README.md").read_text().split("## What the harness found", 1)[1].split("\n## ", 1)[0]


def test_the_record_below_bicubic_says_so_and_the_guide_leaves_it_out() -> None:
    from nas.report.reference import psnr_floor
    from nas.study.folder import StudyFolder

    arms = json.loads((PUBLISHED / BELOW_BICUBIC / "report" / "experiment.json").read_text())["arms"]
    means = [arm["psnr_mean_db"] for arm in arms]
    floor = psnr_floor(StudyFolder(PUBLISHED / BELOW_BICUBIC).space())  # bicubic on its validation photos
    assert max(means) < floor
    assert f"{min(means):.2f}–{max(means):.2f} dB" in one_line(ROOT / "results" / "README.md")
    gains = [arm["gain_db"] for arm in arms]
    said = f"gain over bicubic is −{-min(gains):.2f} to −{-max(gains):.2f} dB"
    for readme in (ROOT / "results" / "README.md", PUBLISHED / BELOW_BICUBIC / "README.md"):
        text = one_line(readme)
        assert said in text and "answers nothing" in text, readme
    assert f"bicubic upsampling of the same photos ({floor:.2f} dB" in one_line(PUBLISHED / BELOW_BICUBIC / "README.md")
    assert BELOW_BICUBIC not in findings()  # the guide quotes only studies whose networks have learned


def test_the_guide_quotes_the_from_scratch_arms_gain_over_bicubic() -> None:
    from nas.study.folder import StudyFolder

    experiment = json.loads((PUBLISHED / "sr_light_scratch" / "report" / "experiment.json").read_text())
    gains = [arm["gain_db"] for arm in experiment["arms"]]
    minimum = StudyFolder(PUBLISHED / "sr_light_scratch").space().proxy.min_gain_db
    assert min(gains) >= minimum  # every arm has learned: its verdicts are drawn
    assert f"+{min(gains):.2f} to +{max(gains):.2f} dB over bicubic" in " ".join(findings().split())


def test_the_figure_compares_the_committed_ablation_and_experiment(tmp_path: Path) -> None:
    out = tmp_path / "figure.png"
    script = ROOT / "bench" / "ablation_vs_recovery.py"
    shown = subprocess.run([sys.executable, str(script), "--out", str(out)], capture_output=True, text=True, check=True)
    assert out.stat().st_size > 10_000
    experiment = json.loads((PUBLISHED / "sr_light_inherited" / "report" / "experiment.json").read_text())
    drops = [
        e for e in experiment["effects"] if e["block"] == "a2b" and e["kind"] == "drop" and e["family"] == "attention"
    ]
    rows = [line for line in shown.stdout.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(drops) == 4
    for row, effect in zip(rows, sorted(drops, key=lambda e: e["group"]), strict=True):
        assert f"{-effect['estimate_db']:+.3f} [{-effect['high_db']:+.3f}, {-effect['low_db']:+.3f}]" in row


def test_a_copy_of_the_inherited_study_folder_reads_the_same_parent_and_images_from_its_own_space_file(
    tmp_path: Path, monkeypatch
) -> None:
    """The study folder's ``space.yaml`` names the parent weights and Set5 relative to the file it was copied from
    (``search_spaces/``): read from a copy of the folder anywhere, they are the same files, and the parent loads
    with the hash the study pinned (bench/reproduce.py re-trains published runs from such a space)."""
    from nas.core import spaces
    from nas.study.folder import written_from
    from nas.trained import parents

    require_reference()
    copy = tmp_path / "elsewhere" / "sr_light_inherited"
    shutil.copytree(PUBLISHED / "sr_light_inherited", copy, ignore=shutil.ignore_patterns("report", "logs"))
    monkeypatch.chdir(tmp_path)  # relative paths mean nothing here but the copy's own
    copied, committed = (  # each read as `nas train --space` reads a study folder's space file
        spaces.load(file, written_from(file))
        for file in (copy / "space.yaml", PUBLISHED / "sr_light_inherited" / "space.yaml")
    )
    assert copied.proxy.init is not None and committed.proxy.init is not None
    assert Path(copied.proxy.init.path).samefile(committed.proxy.init.path)
    assert Path(copied.data.val).samefile(committed.data.val)
    assert copied.proxy.init.sha256 == json.loads((copy / "space.json").read_text())["proxy"]["init"]["sha256"]
    parent = parents.network(copied)  # refuses weights whose hash is not the pinned one
    assert parent is not None and str(parents.genotype_of(copied)) == "x2.c40.u24:a2b*16"
