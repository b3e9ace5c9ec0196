"""A designed experiment read at two budgets along its runs, on synthetic runs with known truth (no training).

Each run is read twice: PSNR at a budget = 30 dB + seed effect + the arm's true effect at that budget + the run's
own noise, which the two readings share in part (one training gives both, correlation 0.6), the rest drawn anew.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from test_experiment_analysis import design_of, planted_at

from nas.report.experiment_budgets import UNTRAINED_READING, analyse_budgets

pytestmark = pytest.mark.usefixtures("short_collections")

BUDGETS = (1000, 3000)
SIGMA = 0.1
ALPHA = 0.05
NULL_EXPERIMENTS, FLIP_EXPERIMENTS = 150, 40


def simulate_budgets(design, truths: tuple[np.ndarray, np.ndarray], rng: np.random.Generator) -> pd.DataFrame:
    seeds = np.array(design.seeds)
    seed_effect = rng.normal(0.0, 0.2, len(seeds))
    shared = rng.normal(0.0, SIGMA, (len(design.arms), len(seeds)))
    frames = []
    for budget, truth, gain in zip(BUDGETS, truths, (0.8, 1.2), strict=True):
        own = rng.normal(0.0, SIGMA, shared.shape)
        noise = np.sqrt(0.6) * shared + np.sqrt(0.4) * own
        psnr = 30.0 + gain + seed_effect[None, :] + truth[:, None] + noise
        frames.append(pd.DataFrame({
            "genotype": np.repeat([arm.genotype for arm in design.arms], len(seeds)),
            "seed": np.tile(seeds, len(truth)), "budget": budget, "psnr": psnr.ravel(), "psnr_bicubic": 29.0,
            "macs": 1e9, "params": 1e4,
        }))  # fmt: skip
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def design():
    return design_of(4, [(0, 1), (2, 3)], seeds=range(8))


@pytest.mark.slow  # 190 simulated two-budget experiments
def test_the_change_test_keeps_its_level_and_finds_a_planted_sign_flip(design) -> None:
    rng = np.random.default_rng(11)
    same = planted_at(design, {0, 1}, 0.2)  # an effect that holds at both budgets: no change
    false_alarms = sum(
        any(c.changes for c in analyse_budgets(simulate_budgets(design, (same, same), rng), design).changes)
        for _ in range(NULL_EXPERIMENTS)
    )
    flipped, found = (planted_at(design, {0, 1}, -0.3), planted_at(design, {0, 1}, 0.3)), 0
    for _ in range(FLIP_EXPERIMENTS):
        changes = {c.label: c for c in analyse_budgets(simulate_budgets(design, flipped, rng), design).changes}
        found += changes["a2b only 0-1 - none"].changes and changes["a2b only 0-1 - none"].change_db > 0
    print({"false alarms": false_alarms / NULL_EXPERIMENTS, "flip found": found / FLIP_EXPERIMENTS})
    assert false_alarms / NULL_EXPERIMENTS <= ALPHA + 0.035  # family-wise over every contrast; 0.035 ≈ 2 binomial sd
    assert found / FLIP_EXPERIMENTS >= 0.8


def test_each_budget_reads_its_own_verdicts_and_the_report_names_the_headline_budget(design) -> None:
    flipped = (planted_at(design, {0, 1}, -0.5), planted_at(design, {0, 1}, 0.5))
    budgeted = analyse_budgets(simulate_budgets(design, flipped, np.random.default_rng(4)), design)
    assert budgeted.budgets == BUDGETS and budgeted.headline_budget == 3000
    early, late = budgeted.results
    assert early.interval.per_interval == pytest.approx(1 - ALPHA / 2 / len(early.effects))  # contrasts x budgets
    assert "Bonferroni over 5 contrasts x 2 budgets" in early.interval.adjustment
    at = {result: next(e for e in result.effects if e.label == "a2b only 0-1 - none") for result in (early, late)}
    assert (at[early].verdict, at[late].verdict) == ("hurts", "helps")
    change = next(c for c in budgeted.changes if c.label == "a2b only 0-1 - none")
    assert (
        change.flips
        and change.changes
        and change.change_db == pytest.approx(at[late].estimate_db - at[early].estimate_db)
    )
    text = "\n".join(budgeted.verdict)
    assert "the verdict below is read at the largest, 3000" in text
    assert "change sign (helps at one budget, hurts at another): " in text and "a2b only 0-1 - none" in text
    assert budgeted.verdict[1:-1] == late.verdict  # the headline's own lines, read at the largest budget
    assert UNTRAINED_READING not in budgeted.verdict[0]  # no reading at 0
    assert budgeted.to_json()["at_budget"]["1000"]["effects"][0]["label"] == early.effects[0].label


def test_no_change_is_read_from_a_budget_whose_networks_have_not_learned(design) -> None:
    flipped = (planted_at(design, {0, 1}, -0.5), planted_at(design, {0, 1}, 0.5))
    runs = simulate_budgets(design, flipped, np.random.default_rng(4))
    early = runs["budget"] == BUDGETS[0]
    unlearned = runs.assign(psnr_bicubic=runs["psnr_bicubic"].where(~early, runs["psnr"].max()))  # under at 1000
    budgeted = analyse_budgets(unlearned, design)
    assert all(c.not_drawn and c.not_drawn.startswith("not drawn: these networks") for c in budgeted.changes)
    assert not any(c.changes for c in budgeted.changes)  # the planted flip is there, and not read
    assert {e.verdict for e in budgeted.results[0].effects} == {"not drawn"}
    assert effect_at(budgeted.headline, "a2b only 0-1 - none").verdict == "helps"  # the learned budget still reads
    summary = budgeted.verdict[-1]
    assert summary.startswith("Across budgets: 0 of the 0 effects whose arms have learned at 1000 and 3000")
    assert "(5 not drawn: arms under the minimum gain at one end)" in summary


def effect_at(result, label: str):
    return next(e for e in result.effects if e.label == label)


def test_a_parent_design_read_from_before_recovery_says_how_the_parent_itself_moves(tmp_path) -> None:
    from test_experiment_analysis import inherited_design

    from nas.report import study_figures

    design = inherited_design(seeds=range(6))
    # Removing a2b costs 2 dB before recovery (under bicubic + the minimum gain: a damaged trained network, read all
    # the same), 0.2 dB after it.
    removed = np.array([-2.0 if "none" in arm.genotype else 0.0 for arm in design.arms])
    runs = simulate_budgets(design, (removed, removed / 10), np.random.default_rng(5))
    runs["budget"] = runs["budget"].map({BUDGETS[0]: 0, BUDGETS[1]: 600})  # read before fine-tuning and after
    budgeted = analyse_budgets(runs, design)
    parent = runs[runs["genotype"] == design.arms[0].genotype].groupby("budget")["psnr"].mean()
    assert budgeted.verdict[0].endswith(UNTRAINED_READING)  # why some intervals at 0 have no width
    (drift,) = [line for line in budgeted.verdict if line.startswith("The parent itself")]
    assert f"{parent[0]:.3f} dB at 0, {parent[600]:.3f} dB at 600 iterations" in drift
    assert f"{parent[600] - parent[0]:+.3f} dB from 0 to 600" in drift
    change = next(c for c in budgeted.changes if c.label == "parent - a2b drop 0-1")
    assert change.not_drawn is None and change.changes and change.change_db == pytest.approx(-1.8, abs=0.15)
    assert "the parent reaches the 0.5 dB the space asks of a proxy that has learned, and 2 of its changes fall" in (
        "\n".join(budgeted.results[0].verdict)
    )
    study_figures.budget_curves_png(budgeted, "a2b", tmp_path / "a2b.png")  # a reading at 0 on the budget axis
    assert (tmp_path / "a2b.png").stat().st_size > 10_000
