"""The published studies (results/published/): their committed files rebuild the committed verdicts exactly.

Each study folder is copied and reported with ``nas report`` (the committed folder is only read); the rebuilt
``experiment.json`` must equal the committed one and the rebuilt report the committed report's experiment section.
The README's section on what the harness found must quote the committed numbers.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nas import cli

ROOT = Path(__file__).resolve().parents[1]
PUBLISHED = ROOT / "results" / "published"
STUDIES = ("sr_light_inherited",)
COMMITTED = ("space.yaml", "space.json", "study.json", "optuna.journal", "trials-experiment.csv", "environment.json")


def experiment_section(markdown: str) -> str:
    return markdown.split("## Designed experiment", 1)[1]


@pytest.mark.parametrize("name", STUDIES)
def test_the_committed_study_rebuilds_its_committed_verdict(name: str, tmp_path: Path, capsys) -> None:
    committed = PUBLISHED / name
    for file in COMMITTED:
        assert (committed / file).is_file(), f"{name}: {file} is not committed"
    copy = tmp_path / name
    shutil.copytree(committed, copy, ignore=shutil.ignore_patterns("report"))
    assert cli.main(["report", str(copy)]) == 0
    capsys.readouterr()
    rebuilt = json.loads((copy / "report" / "experiment.json").read_text())
    assert rebuilt == json.loads((committed / "report" / "experiment.json").read_text())
    assert rebuilt["verdict"], "a published experiment states its verdict"
    rebuilt_section = experiment_section((copy / "report" / "report.md").read_text())
    assert rebuilt_section == experiment_section((committed / "report" / "report.md").read_text())


def effect_numbers(experiment: dict) -> dict[str, tuple[str, str, str]]:
    """Per effect label: its estimate and simultaneous interval as the README writes them (+0.000 dB)."""
    return {
        effect["label"]: tuple(f"{effect[key]:+.3f}" for key in ("estimate_db", "low_db", "high_db"))
        for effect in experiment["effects"]
    }


@pytest.mark.parametrize("name", STUDIES)
def test_the_readme_quotes_the_committed_effects(name: str) -> None:
    experiment = json.loads((PUBLISHED / name / "report" / "experiment.json").read_text())
    section = (ROOT / "README.md").read_text().split("## What the harness found", 1)[1].split("\n## ", 1)[0]
    quoted = re.findall(r"^\| ([^|]+?) \| ([+-]\d+\.\d{3}) \[([+-]\d+\.\d{3}), ([+-]\d+\.\d{3})\] \|", section, re.M)
    numbers = effect_numbers(experiment)
    mine = [row for row in quoted if row[0] in numbers]
    assert mine, f"the README quotes none of {name}'s effects"
    for label, *interval in mine:
        assert tuple(interval) == numbers[label], label


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
