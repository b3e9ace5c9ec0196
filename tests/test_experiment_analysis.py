"""The designed experiment's statistics on synthetic runs with known truth (no training).

PSNR = 30 dB + seed effect + planted arm effect + N(0, sigma), independent across arms. Rates are measured over many
simulated experiments from fixed random seeds, so every number below is reproducible. The calibration under common
random numbers' real structure (runs of alike genotypes correlated, arms 50 times noisier) is
``test_experiment_calibration.py``.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.core import power, spaces
from nas.core.experiment_design import ExperimentDesign, make_design
from nas.core.genotypes import Genotype
from nas.core.settings import ParentWeights
from nas.report import analysis, experiment_effects, verdicts
from nas.report.experiment_analysis import analyse
from nas.report.experiment_contrasts import planned_effects
from nas.report.experiment_runs import ExperimentDataError
from nas.report.experiment_split import PARTS, split_lines

pytestmark = pytest.mark.usefixtures("short_collections")

SIGMA = 0.1
PAIRED_SD = np.sqrt(2) * SIGMA  # a difference of two arms' independent runs at one seed
MARGIN = 0.1
SEEDS = (0, 1, 2, 3)


def design_of(
    depth: int,
    groups,
    control: str | None = None,
    seeds=SEEDS,
    blocks=("a2b",),
    margin=MARGIN,
    mechanism=False,
    kinds=("uniform", "only", "drop"),
):
    space = spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": depth, "choices": ["none", "pa", "a2b"]})
    return make_design(space, list(blocks), groups, list(seeds), margin, control=control, mechanism=mechanism,
                       kinds=kinds)  # fmt: skip


def planted_at(design: ExperimentDesign, depths: set[int], effect: float) -> np.ndarray:
    """Per arm: ``effect`` where a2b sits at any of ``depths``, else 0."""
    return np.array(
        [effect if any(Genotype.parse(arm.genotype).blocks[d] == "a2b" for d in depths) else 0.0 for arm in design.arms]
    )


def simulate(design, truth: np.ndarray, rng: np.random.Generator, sigma: float = SIGMA) -> pd.DataFrame:
    """One run per arm and seed: 30 dB + seed effect (sd 0.2 dB) + the arm's true effect + N(0, sigma)."""
    seeds = np.array(design.seeds)
    seed_effect = rng.normal(0.0, 0.2, len(seeds))
    psnr = 30.0 + seed_effect[None, :] + truth[:, None] + rng.normal(0.0, sigma, (len(truth), len(seeds)))
    return pd.DataFrame({
        "genotype": np.repeat([arm.genotype for arm in design.arms], len(seeds)),
        "seed": np.tile(seeds, len(truth)),
        "psnr": psnr.ravel(),
        "psnr_bicubic": 28.0,  # every arm about 2 dB over bicubic: networks that have learned
        "macs": 1e9,
        "params": 1e4,
    })  # fmt: skip


def effect(result, family: str, kind: str, group: int | None) -> experiment_effects.DesignedEffect:
    (found,) = [e for e in result.effects if (e.family, e.kind, e.group) == (family, kind, group)]
    return found


def test_without_effects_the_tests_reject_and_the_intervals_cover_at_their_nominal_rates() -> None:
    design = design_of(4, [(0,), (1,), (2,), (3,)], seeds=range(10))
    rng = np.random.default_rng(2024)
    truth = np.zeros(len(design.arms))
    depth_rejections = all_cover = noise_covers = claims = selective = 0
    experiments = 400
    for _ in range(experiments):
        result = analyse(simulate(design, truth, rng), design)
        depth_rejections += result.depth_tests[0].p_value < 0.05
        all_cover += all(e.low_db <= 0.0 <= e.high_db for e in result.effects)
        uniform = next(e for e in result.effects if (e.family, e.kind) == ("attention", "uniform"))
        low, high = analysis.sd_interval(uniform.paired_sd_db**2, uniform.dof)  # its paired sd's 95 % interval
        noise_covers += low <= PAIRED_SD <= high
        claims += any(e.verdict in ("helps", "hurts") for e in result.effects)
        selective += any(c.claim == verdicts.DEPTH_SELECTIVE for c in result.claims)
    assert result.interval.contrasts == 9 and all(e.dof == 9 for e in result.effects)
    assert (result.depth_tests[0].df_num, result.depth_tests[0].df_denom) == (6, 4)  # 3 differences per arm kind
    rates = {
        "depth": depth_rejections / experiments,
        "family_coverage": all_cover / experiments,
        "noise_coverage": noise_covers / experiments,
        "helps_or_hurts": claims / experiments,
        "depth_selective": selective / experiments,
    }
    print(rates)
    assert 0.02 <= rates["depth"] <= 0.08
    assert rates["family_coverage"] >= 0.93  # simultaneous (Bonferroni): at least 95 % up to sampling error
    assert 0.92 <= rates["noise_coverage"] <= 0.98
    assert rates["helps_or_hurts"] <= 0.05 and rates["depth_selective"] <= 0.05


def test_a_planted_effect_at_one_group_reads_helps_there_only_and_the_claim_is_depth_selective() -> None:
    # The seed count the plan asks for: a 0.3 dB effect over 27 contrasts at this noise.
    seeds = power.seeds_needed(PAIRED_SD, 0.3, 27)
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv", seeds=range(seeds))
    truth = planted_at(design, {0, 1}, 0.3)  # attention at depths 0-1; the capacity control does nothing
    rng = np.random.default_rng(7)
    experiments = 50
    counts = dict.fromkeys(("only", "drop", "beyond control", "other helps", "depth", "control depth"), 0)
    for _ in range(experiments):
        result = analyse(simulate(design, truth, rng), design)
        counts["only"] += effect(result, "attention", "only", 0).verdict == "helps"
        counts["drop"] += effect(result, "attention", "drop", 0).verdict == "helps"
        counts["beyond control"] += effect(result, "attention - control", "only", 0).verdict == "helps"
        others = [e for e in result.effects if e.group not in (0, None) or e.family == "control"]
        counts["other helps"] += any(e.verdict in ("helps", "hurts") for e in others)
        tests = {t.name: t for t in result.depth_tests}
        counts["depth"] += tests["a2b"].rejects
        counts["control depth"] += tests["conv(a2b)"].rejects
    print(seeds, counts)
    assert seeds == 9 and result.interval.contrasts == 27
    # Planned for 80 % power: 0.7 is two standard errors of 50 experiments below it.
    assert counts["only"] >= 0.7 * experiments and counts["drop"] >= 0.7 * experiments
    assert counts["beyond control"] >= 0.6 * experiments  # a contrast of four arms: twice the variance
    assert counts["other helps"] <= 0.05 * experiments
    assert counts["depth"] >= 0.6 * experiments  # Hotelling's T² of 6 differences on 9 seeds: 3 dof to spare
    assert counts["control depth"] <= 0.1 * experiments


def test_a_design_without_drop_arms_finds_a_planted_effect_at_its_group_with_fewer_contrasts() -> None:
    seeds = power.seeds_needed(PAIRED_SD, 0.3, 15)
    design = design_of(
        8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv", seeds=range(seeds), kinds=("uniform", "only")
    )
    truth = planted_at(design, {0, 1}, 0.3)
    rng = np.random.default_rng(11)
    experiments = 40
    found = other_helps = depth = 0
    for _ in range(experiments):
        result = analyse(simulate(design, truth, rng), design)
        assert {e.kind for e in result.effects} == {"uniform", "only"}
        found += effect(result, "attention", "only", 0).verdict == "helps"
        others = [e for e in result.effects if e.group not in (0, None) or e.family == "control"]
        other_helps += any(e.verdict in ("helps", "hurts") for e in others)
        depth += {t.name: t for t in result.depth_tests}["a2b"].rejects
    assert result.interval.contrasts == 15  # per block and control: uniform and 4 groups; and attention - control
    assert found >= 0.7 * experiments and other_helps <= 0.1 * experiments
    assert depth >= 0.6 * experiments


def test_a_depth_selective_truth_reads_depth_selective_at_the_planned_seeds_and_the_noise_of_paired_runs() -> None:
    """And where the effect at 0-1 is not shown to exceed the margin, helping there beside no effect elsewhere is no
    depth-selective claim: the two intervals could share one true value."""
    # Common random numbers leave about 0.03 dB of noise per run beyond its seed (bench/RESULTS.md, contrast noise);
    # a 0.05 dB margin; a2b worth 0.12 dB at depths 0-1 and nothing elsewhere; the seeds the plan asks for. The claim
    # needs 0-1 to help by at least the margin and every other group to read no effect, both at once.
    sigma, margin = 0.03, 0.05
    seeds = power.seeds_needed(np.sqrt(2) * sigma, margin, 9)
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], seeds=range(seeds), margin=margin)
    rng = np.random.default_rng(17)
    experiments = 40
    claims = [
        {
            c.kind: c.claim
            for c in analyse(simulate(design, planted_at(design, {0, 1}, 0.12), rng, sigma), design).claims
        }
        for _ in range(experiments)
    ]
    selective = sum(c["only"] == verdicts.DEPTH_SELECTIVE for c in claims)
    print(seeds, selective)
    assert seeds == 14 and selective >= 0.8 * experiments
    # The "drop" arms hold a2b everywhere else too: the same truth, read on top of the rest.
    assert sum(c["drop"] == verdicts.DEPTH_SELECTIVE for c in claims) >= 0.8 * experiments


def test_one_planted_experiment_in_words() -> None:
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], seeds=range(12))
    result = analyse(simulate(design, planted_at(design, {0, 1}, 0.3), np.random.default_rng(1)), design)
    only, drop = (effect(result, "attention", kind, 0) for kind in ("only", "drop"))
    assert (only.verdict, drop.verdict) == ("helps", "helps")
    assert not any(e.verdict == "helps" for e in result.effects if e.group not in (0, None))
    text = "\n".join(result.verdict)
    assert "a2b: effect size differs across depth (Hotelling T² = " in text and "F(6, 6)" in text
    numbers = f"{only.estimate_db:+.3f} dB [{only.low_db:+.3f}, {only.high_db:+.3f}]"
    assert f"a2b at depths 0-1: alone {only.verdict_text} ({numbers}; arms differ by +0 params, +0.00 G MACs)" in text
    # Helps at 0-1, but at 0.1 dB noise no other group's interval fits within the margin: not yet depth-selective.
    alone = next(c for c in result.claims if c.kind == "only")
    assert (
        alone.claim == "inconclusive"
        and alone.groups[0].startswith("0-1: helps")
        and alone.groups[1:] == ("2-3: inconclusive", "4-5: inconclusive", "6-7: inconclusive")
    )
    assert f"a2b alone at each depth group: **inconclusive** ({', '.join(alone.groups)})" in text
    assert "10 arms x 12 seeds, paired by seed (120 runs used, 0 ignored)" in text
    assert "simultaneous over 9 contrasts (Bonferroni, alpha 0.05)" in text and "per-seed contrast" in text
    assert "t interval on seeds - 1 degrees of freedom" in text and result.verdict[4].startswith("Sensitivity: ")
    assert result.verdict[1].startswith("Learned: each arm's mean gain over bicubic") and "every arm reaches" in text
    for line in result.verdict[5:]:
        assert any(word in line for word in (*experiment_effects.VERDICTS, "across depth")), line


def test_no_verdict_is_drawn_from_arms_under_the_minimum_gain() -> None:
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], seeds=range(12))
    runs = simulate(design, planted_at(design, {0, 1}, 0.3), np.random.default_rng(1))
    learned = analyse(runs, design)  # every arm about 2 dB over bicubic: the planted effect is found
    assert effect(learned, "attention", "only", 0).verdict == "helps"
    # The same runs, with the none arm 0.02 dB over bicubic and every other arm well over it.
    none = design.arm("a2b", "none").genotype
    floor = runs["psnr_bicubic"].where(runs["genotype"] != none, runs["psnr"].mean() - 0.02)
    mixed = analyse(runs.assign(psnr_bicubic=floor), design)
    for drawn, shown in zip(learned.effects, mixed.effects, strict=True):
        involves_none = drawn.label.endswith("- none") or drawn.label.startswith("none")
        assert (drawn.estimate_db, drawn.low_db, drawn.high_db) == (shown.estimate_db, shown.low_db, shown.high_db)
        if involves_none:
            assert shown.verdict == "not drawn" and shown.withheld.startswith("not drawn: these networks score")
            assert "under the 0.5 dB this space asks of a proxy that has learned" in shown.withheld
        else:
            assert (shown.verdict, shown.size) == (drawn.verdict, drawn.size), drawn.label
    assert {c.claim for c in mixed.claims if c.kind == "only"} == {"not drawn"}  # alone: every group is X - none
    assert {c.claim for c in mixed.claims if c.kind == "drop"} == {c.claim for c in learned.claims if c.kind == "drop"}
    assert mixed.depth_tests == learned.depth_tests  # group differences cancel the none arm: read from learned arms
    text = "\n".join(mixed.verdict)
    assert "1 of 10 arms fall under the 0.5 dB the space asks of a proxy that has learned (none)" in text
    assert "alone at each depth group: **not drawn**" in text
    # Under the floor everywhere: nothing is drawn, and nothing says no effect or inconclusive instead.
    unlearned = analyse(runs.assign(psnr_bicubic=runs["psnr"].max() + 0.1), design)
    assert {e.verdict for e in unlearned.effects} == {"not drawn"} and {c.claim for c in unlearned.claims} == {
        "not drawn"
    }
    assert all(t.not_run and t.not_run.startswith("not drawn: these networks") for t in unlearned.depth_tests)
    block_lines = "\n".join(unlearned.verdict[5:])
    assert "inconclusive" not in block_lines and "no effect" not in block_lines and "helps" not in block_lines


def test_precise_runs_without_effects_read_no_effect_and_name_the_seeds_each_family_needs() -> None:
    design = design_of(4, [(0, 1), (2, 3)])
    result = analyse(simulate(design, np.zeros(len(design.arms)), np.random.default_rng(5), 0.01), design)
    assert {e.verdict for e in result.effects} == {"no effect"}
    assert all(-MARGIN < e.low_db < e.high_db < MARGIN for e in result.effects)  # the word reads the interval
    for family in result.noise:
        members = sorted(e.paired_sd_db for e in result.effects if (e.family, e.kind) == family.key)
        assert (family.low_sd_db, family.high_sd_db) == (members[0], members[-1])
        assert family.median_sd_db == pytest.approx(float(np.median(members)))
        expected = power.seeds_needed(family.median_sd_db, MARGIN, result.interval.contrasts)
        assert family.seeds_for_margin == expected
        assert family.seeds_for_margin_range[1] == power.seeds_needed(members[-1], MARGIN, result.interval.contrasts)
        assert family.family in result.verdict[3] and f"{family.median_sd_db:.3f} dB" in result.verdict[3]
    assert "alone at a group" in result.verdict[3] and "on top of the rest at a group" in result.verdict[3]


@pytest.mark.parametrize(
    ("low", "high", "verdict"),
    [
        (0.05, 0.55, "helps"),  # significant; whether by the margin (0.1) the interval does not settle
        (0.12, 0.55, "helps by at least the margin"),
        (0.01, 0.09, "helps by less than the margin"),  # significant, and too small to matter
        (-0.55, -0.05, "hurts"),
        (-0.55, -0.10, "hurts by at least the margin"),
        (-0.09, 0.09, "no effect"),
        (-0.20, 0.36, "inconclusive"),
        (-0.05, 0.10, "inconclusive"),  # the margin itself is not within it
    ],
)
def test_verdict_words_read_the_interval_only(low, high, verdict) -> None:
    assert verdicts.classify(low, high, MARGIN).text() == verdict


def test_seeds_needed_and_the_minimum_detectable_effect_agree() -> None:
    for noise, margin, contrasts in [(0.1, 0.1, 9), (0.05, 0.1, 27), (0.1, 0.3, 1), (0.2, 0.1, 9)]:
        seeds = power.seeds_needed(noise, margin, contrasts)
        assert power.minimum_detectable_effect(noise, seeds, contrasts) <= margin
        if seeds > 2:
            assert power.minimum_detectable_effect(noise, seeds - 1, contrasts) > margin
    # More seeds detect smaller effects; more contrasts need more seeds.
    assert power.minimum_detectable_effect(0.1, 20, 9) < power.minimum_detectable_effect(0.1, 10, 9)
    assert power.seeds_needed(0.1, 0.1, 27) > power.seeds_needed(0.1, 0.1, 9) > power.seeds_needed(0.1, 0.1, 1)
    # Against the normal approximation n = ((z(1 - a/2m) + z(power)) / d)^2, which the t-test needs a few more than.
    d = 0.1 / 0.1
    normal = ((stats.norm.ppf(1 - 0.05 / 18) + stats.norm.ppf(0.8)) / d) ** 2
    assert normal < power.seeds_needed(0.1, 0.1, 9) <= normal + 5
    assert power.seeds_needed(0.014, 0.1, 5) == 4  # where a few seeds suffice (a root finder fails there)


def test_at_the_seeds_needed_a_margin_sized_effect_is_detected_with_the_planned_power() -> None:
    seeds = power.seeds_needed(PAIRED_SD, 0.2, 5)  # 4 arms of a two-group design: 5 contrasts
    design = design_of(4, [(0, 1), (2, 3)], seeds=range(seeds))
    truth = planted_at(design, {0, 1}, 0.2)  # only 0-1 - none is 0.2 dB
    rng = np.random.default_rng(11)
    experiments = 150
    detected = 0
    for _ in range(experiments):
        result = analyse(simulate(design, truth, rng), design)
        assert result.interval.contrasts == 5
        detected += effect(result, "attention", "only", 0).low_db > 0
    print({"seeds": seeds, "power": detected / experiments})
    assert 0.75 <= detected / experiments <= 0.95


def test_result_round_trips_through_json_and_lists_its_arms() -> None:
    design = design_of(4, [(0, 1), (2, 3)], control="conv", mechanism=True)
    runs = simulate(design, np.zeros(len(design.arms)), np.random.default_rng(0))
    extra = pd.DataFrame({"genotype": ["x2.c16.u24:pa*4", runs["genotype"][0]], "seed": [0, 99], "psnr": [31.0, 31.0],
                          "macs": [1.0, 1.0], "params": [1.0, 1.0]})  # fmt: skip
    failed = runs.iloc[:1].assign(psnr=np.nan)
    counted = {arm.genotype: 1000 * (index + 1) for index, arm in enumerate(design.arms)}
    result = analyse(pd.concat([runs, extra, failed], ignore_index=True), design, activations=counted)
    assert (result.runs_used, result.runs_ignored) == (len(runs), 3)
    data = result.to_json()
    assert json.loads(json.dumps(data)) == data
    assert (
        data["interval"]["over"] == "4 seeds per arm, paired by seed (each effect over the seeds complete in its arms)"
    )
    only = next(a for a in result.arms if a.label == "a2b only 0-1")
    assert only.roles == ("a2b only 0-1", "a2b drop 2-3") and only.runs == 4 and only.params == 1e4
    frame = result.effects_frame()
    # 5 effects (uniform, only and drop at 2 groups) of the block, of each of its 2 controls, and attention - each.
    from_scratch = {"attention", "control", "attention - control", "mechanism", "attention - mechanism"}
    assert len(frame) == result.interval.contrasts == 25 and set(frame["family"]) == from_scratch
    beyond = effect(result, "attention - mechanism", "only", 1)
    plus, minus = design.arm("a2b", "only", 1), design.arm("a2b", "only", 1, control="mechanism")
    assert beyond.activations_added == counted[plus.genotype] - counted[minus.genotype]
    assert beyond.params_added == 0.0 and beyond.macs_added == 0.0  # the simulated runs all cost the same
    assert all(b.shown == (not b.missing and b.text == "helps beyond capacity") for b in result.beyond)


def test_runs_that_cannot_be_analysed_are_refused_clearly() -> None:
    design = design_of(4, [(0, 1), (2, 3)])
    runs = simulate(design, np.zeros(len(design.arms)), np.random.default_rng(0))
    with pytest.raises(ExperimentDataError, match="lack the column"):
        analyse(runs.drop(columns="macs"), design)
    with pytest.raises(ExperimentDataError, match="a2b uniform have no runs"):
        analyse(runs[runs["genotype"] != design.arm("a2b", "uniform").genotype], design)
    with pytest.raises(ExperimentDataError, match="a2b only 2-3 have one run; train every arm with at least"):
        analyse(runs[runs["seed"] == 0], design)


def test_forest_plots_show_every_group_both_arm_kinds_and_the_control(tmp_path) -> None:
    from nas.report import study_figures as figures

    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv")
    result = analyse(simulate(design, planted_at(design, {0, 1}, 0.3), np.random.default_rng(1)), design)
    path = tmp_path / "forest.png"
    figures.forest_png(result, "a2b", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
    figure = figures.forest_plotly(result, "a2b")
    attention, control = figure.data
    assert list(figure.layout.yaxis.ticktext) == ["every depth"] + [
        f"{where} at {g}" for g in ("0-1", "2-3", "4-5", "6-7") for where in ("alone", "on top")
    ]
    assert len(attention.x) == len(control.x) == 9
    only = effect(result, "attention", "only", 0)
    assert attention.x[1] == pytest.approx(only.estimate_db) and attention.y[1] == pytest.approx(1 - 0.2)
    assert attention.error_x.array[1] == pytest.approx(only.high_db - only.estimate_db)
    (band,) = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert (band.x0, band.x1) == (-MARGIN, MARGIN)


@pytest.mark.slow  # calibration over a thousand simulated experiments
@pytest.mark.parametrize("sigma", [0.33, 0.04])  # one run's noise from scratch; a run beyond its seed under CRN
def test_no_verdict_word_is_wrong_more_often_than_its_level(sigma: float) -> None:
    """helps/hurts under the null; "by at least the margin" and "no effect" with every effect exactly at the
    margin (the boundary of both claims): each at most alpha over the whole family."""
    design = design_of(4, [(0,), (1,), (2,), (3,)], margin=0.05)
    rng = np.random.default_rng(int(sigma * 100))
    at_margin = planted_at(design, {0, 1, 2, 3}, 0.05)  # every arm holding a2b is 0.05 dB better than none
    wrong = {"helps or hurts": 0, "by at least the margin": 0, "no effect": 0}
    experiments = 120
    for _ in range(experiments):
        null = analyse(simulate(design, np.zeros(len(design.arms)), rng, sigma), design)
        wrong["helps or hurts"] += any(e.verdict in ("helps", "hurts") for e in null.effects)
        boundary = analyse(simulate(design, at_margin, rng, sigma), design)
        against_none = [e for e in boundary.effects if e.kind != "drop"]  # uniform - drop g is 0 here
        wrong["by at least the margin"] += any(e.size == verdicts.AT_LEAST_MARGIN for e in against_none)
        wrong["no effect"] += any(e.verdict == "no effect" for e in against_none)
    rates = {word: count / experiments for word, count in wrong.items()}
    print(sigma, rates)
    # At most alpha up to sampling error: no count is significantly above alpha's share (binomial, one-sided 1 %).
    for count in wrong.values():
        assert stats.binomtest(count, experiments, design.alpha, alternative="greater").pvalue > 0.01


@pytest.mark.slow  # calibration over hundreds of simulated experiments
def test_an_arm_three_times_as_noisy_keeps_the_family_wise_rate() -> None:
    design = design_of(4, [(0,), (1,), (2,), (3,)])
    noisy = design.arms.index(design.arm("a2b", "uniform"))  # in every drop contrast and one against none
    rng = np.random.default_rng(33)
    experiments, claims = 250, 0
    for _ in range(experiments):
        runs = simulate(design, np.zeros(len(design.arms)), rng)
        rows = runs["genotype"] == design.arms[noisy].genotype
        runs.loc[rows, "psnr"] += rng.normal(0.0, np.sqrt(8) * SIGMA, rows.sum())  # its sd: 3 sigma in all
        claims += any(e.verdict in ("helps", "hurts") for e in analyse(runs, design).effects)
    print(claims / experiments)  # one pooled variance: 0.165 here
    assert claims / experiments <= 0.07


def test_arms_that_lost_runs_unequally_give_no_verdict_and_say_why() -> None:
    design = design_of(4, [(0, 1), (2, 3)], seeds=range(8))
    runs = simulate(design, planted_at(design, {0, 1}, 0.5), np.random.default_rng(4))
    only = design.arm("a2b", "only", 0).genotype
    diverged = (runs["genotype"] == only) & runs["seed"].isin([0, 1])
    result = analyse(runs.assign(psnr=runs["psnr"].mask(diverged)), design)
    lost = {arm.label: arm.lost for arm in result.arms}
    assert lost["a2b only 0-1"] == 2 and sum(lost.values()) == 2 and result.runs_used == len(runs) - 2
    withheld = [e for e in result.effects if e.withheld]
    assert {e.label for e in withheld} == {"a2b only 0-1 - none", "a2b uniform - a2b only 0-1"}  # it is drop 2-3 too
    assert all(e.verdict == "inconclusive" for e in withheld)
    assert {e.seeds for e in withheld} == {6} and {e.seeds for e in result.effects if not e.withheld} == {8}
    assert effect(result, "attention", "only", 0).low_db > 0  # its interval alone would read helps
    text = "\n".join(result.verdict)
    assert "runs lost (failed or diverged): a2b only 0-1 2" in text
    assert (
        "no verdict: its arms lost different numbers of runs (failed or diverged: a2b only 0-1 2, none 0 of 8)" in text
    )


def beyond_rate(design, truth: np.ndarray, rng: np.random.Generator, experiments: int = 120) -> float:
    """The share of simulated experiments in which a2b at depths 0-1 alone reads *helps beyond capacity*."""
    shown = 0
    for _ in range(experiments):
        result = analyse(simulate(design, truth, rng), design)
        shown += any(b.shown for b in result.beyond if (b.kind, b.group) == ("only", 0))
    return shown / experiments


def planted_in(design, blocks: tuple[str, ...], effect: float = 0.4) -> np.ndarray:
    """Per arm: ``effect`` where any of ``blocks`` sits at depth 0 or 1, else 0."""
    return np.array([
        effect if any(Genotype.parse(arm.genotype).blocks[d] in blocks for d in (0, 1)) else 0.0 for arm in design.arms
    ])  # fmt: skip


@pytest.mark.slow  # 240 simulated experiments
def test_helps_beyond_capacity_needs_both_controls_and_keeps_its_level() -> None:
    """a2b at depths 0-1 helps by 0.4 dB. When its convolutions help with a constant gate too (fixed_a2b as much),
    "helps beyond capacity" must stay within alpha though the capacity control does nothing; when neither control
    does anything it is found; without the mechanism control it cannot be shown."""
    design = design_of(4, [(0, 1), (2, 3)], control="conv", mechanism=True, seeds=range(9))
    rng = np.random.default_rng(11)
    gate_free = beyond_rate(design, planted_in(design, ("a2b", "fixed_a2b")), rng)
    found = beyond_rate(design, planted_in(design, ("a2b",)), rng)
    print({"beyond capacity, the gate not needed": gate_free, "beyond capacity, planted": found})
    assert gate_free <= 0.07 and found >= 0.8
    without = design_of(4, [(0, 1), (2, 3)], control="conv", mechanism=False, seeds=range(6))
    result = analyse(simulate(without, planted_in(without, ("a2b",)), rng), without)
    helped = [b for b in result.beyond if (b.kind, b.group) == ("only", 0)]
    assert helped and all(b.missing == ("mechanism control",) and not b.shown for b in helped)
    assert helped[0].text == "cannot be shown to help beyond capacity: no mechanism control"


def test_forest_rows_of_a_parent_design_name_what_each_effect_is_and_leave_no_empty_row() -> None:
    from nas.report import study_figures as figures

    plain = spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": 4, "choices": ["none", "pa", "a2b"]})
    weights = ParentWeights("/parent.pt", "0" * 64)  # never read: the design needs the parent's genotype only
    space = dataclasses.replace(plain, proxy=dataclasses.replace(plain.proxy, init=weights))
    parent = Genotype.parse("x2.c16.u24:a2b*4")
    design = make_design(space, ["a2b", "pa"], [(0, 1), (2, 3)], list(SEEDS), MARGIN, control=None, parent=parent)
    truth = np.array([-0.3 if "none" in arm.genotype else 0.0 for arm in design.arms])  # removing a2b costs 0.3 dB
    result = analyse(simulate(design, truth, np.random.default_rng(3)), design)
    a2b_rows = list(figures.forest_plotly(result, "a2b").layout.yaxis.ticktext)
    assert a2b_rows == ["on top of the parent at 0-1", "on top of the parent at 2-3"]  # parent - a2b drop g only
    assert list(figures.forest_plotly(result, "pa").layout.yaxis.ticktext) == ["in place at 0-1", "in place at 2-3"]
    removed = effect(result, "attention", "drop", 0)
    assert removed.label == "parent - a2b drop 0-1" and removed.estimate_db == pytest.approx(0.3, abs=0.2)


def inherited_design(seeds=SEEDS) -> ExperimentDesign:
    """a2b and pa as changes of a parent with a2b at every depth, with every control."""
    plain = spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": 4, "choices": ["none", "pa", "a2b"]})
    weights = ParentWeights("/parent.pt", "0" * 64)  # never read: the design needs the parent's genotype only
    space = dataclasses.replace(plain, proxy=dataclasses.replace(plain.proxy, init=weights))
    parent = Genotype.parse("x2.c16.u24:a2b*4")
    return make_design(space, ["a2b", "pa"], [(0, 1), (2, 3)], list(seeds), MARGIN, control="conv", parent=parent)


def test_in_place_of_a_trained_a2b_the_capacity_control_is_plain_a2b_beside_its_freshness_control() -> None:
    design = inherited_design()
    labels = {arm.label for arm in design.arms}
    assert {"plain_a2b only 0-1", "fresh_a2b only 0-1", "fixed_a2b only 2-3", "conv(pa) only 0-1"} <= labels
    assert design.controls_of("a2b") == ("capacity", "mechanism", "freshness")
    assert design.controls_of("pa") == ("capacity", "mechanism") and not design.gaps  # pa starts fresh anyway
    assert dict(design.matches)["a2b"].startswith("plain_a2b adds ")
    over = [p.label for p in planned_effects(design) if p.family == "freshness - control"]
    assert over == ["fresh_a2b only 0-1 - plain_a2b only 0-1", "fresh_a2b only 2-3 - plain_a2b only 2-3"]
    a2b = {p.family for p in planned_effects(design) if p.block == "a2b"}  # parent - plain_a2b adds freshness to it
    assert a2b == {"attention", "attention - mechanism", "attention - freshness", "freshness - control",
                   "control - removal"}  # fmt: skip
    added = [p.label for p in planned_effects(design) if p.family == "control - removal"]
    assert added == ["plain_a2b only 0-1 - a2b drop 0-1", "plain_a2b only 2-3 - a2b drop 2-3"]


def test_the_removal_cost_splits_exactly_into_freshness_attention_over_parameters_and_parameters() -> None:
    """At 0-1 removing the attention costs 0.5 dB: 0.2 of freshness, 0.1 of attention over a fresh plain branch of
    its parameters and 0.2 of those parameters; holding the gate at its mean costs 0.1. Each part is read with an
    interval that covers it, and the estimates add up to the removal's to the last digit."""
    design = inherited_design(seeds=range(8))
    at_first = {"none": -0.5, "fresh_a2b": -0.2, "plain_a2b": -0.3, "fixed_a2b": -0.1, "a2b": 0.0}
    truth = np.array([at_first.get(Genotype.parse(arm.genotype).blocks[0], 0.0) for arm in design.arms])
    planted = dict(zip([family for _, family, _ in PARTS], (0.5, 0.2, 0.1, 0.2, 0.1), strict=True))
    rng = np.random.default_rng(23)
    covered = dict.fromkeys(planted, 0)
    for _ in range(60):
        result = analyse(simulate(design, truth, rng), design)
        found = {e.family: e for e in result.effects if e.block == "a2b" and e.group == 0}
        parts = [found[family] for _, family, _ in PARTS]
        assert parts[0].estimate_db == pytest.approx(sum(p.estimate_db for p in parts[1:4]), abs=1e-12)
        for family, truth_db in planted.items():
            covered[family] += found[family].low_db <= truth_db <= found[family].high_db
    assert min(covered.values()) >= 0.9 * 60, covered
    lines = split_lines([("8 iterations", result)])
    assert lines[0].startswith("Removal cost split") and len(lines) == 3 + 2  # one row per group of a2b
    assert lines[3].startswith("| 8 iterations | a2b | 0-1 | +0.")


def test_a_block_the_parent_does_not_hold_throughout_gets_no_control_that_would_equal_it_or_start_fresher() -> None:
    plain = spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": 4, "choices": ["none", "pa", "a2b"]})
    space = dataclasses.replace(plain, proxy=dataclasses.replace(plain.proxy, init=ParentWeights("/p.pt", "0" * 64)))

    def design(parent: str, block: str) -> ExperimentDesign:
        return make_design(space, [block], [(0, 1), (2, 3)], list(SEEDS), MARGIN, "conv", parent=Genotype.parse(parent))

    elsewhere = design("x2.c16.u24:pa*4", "a2b")  # not the parent's: it starts fresh, as from scratch
    assert elsewhere.controls_of("a2b") == ("capacity", "mechanism") and not elsewhere.gaps
    assert {arm.label for arm in elsewhere.arms} >= {"conv(a2b) only 0-1", "fixed_a2b only 2-3"}
    for parent, block, reason in (
        ("x2.c16.u24:a2b*2-pa*2", "a2b", "the parent holds 'a2b' at some depths of the groups only"),
        ("x2.c16.u24:pa*4", "pa", "no capacity and freshness controls are registered for a trained 'pa'"),
    ):
        held = design(parent, block)
        assert held.controls_of(block) == ("mechanism",)
        assert [(gap.control, gap.reason.startswith(reason)) for gap in held.gaps] == [
            ("capacity", True),
            ("freshness", True),
        ]


def removal_beyond_rate(design: ExperimentDesign, fresh_db: float, rng: np.random.Generator, runs: int = 60) -> float:
    """The share of simulated experiments in which removing a2b at 0-1 reads *helps beyond capacity*. At 0-1
    removing the attention costs 0.5 dB, plain_a2b 0.6, fixed_a2b 0.5 and fresh_a2b ``-fresh_db``."""
    at_first = {"none": -0.5, "plain_a2b": -0.6, "fixed_a2b": -0.5, "fresh_a2b": fresh_db, "a2b": 0.0}
    truth = np.array([at_first.get(Genotype.parse(arm.genotype).blocks[0], 0.0) for arm in design.arms])
    shown = 0
    for _ in range(runs):
        result = analyse(simulate(design, truth, rng), design)
        shown += any(b.shown for b in result.beyond if (b.block, b.kind, b.group) == ("a2b", "drop", 0))
    return shown / runs


def test_beyond_capacity_in_place_of_a_trained_block_compares_its_fresh_branch_with_the_fresh_plain_one() -> None:
    """Where a fresh attention branch does no better than a fresh plain branch (both 0.6 dB under the parent),
    "parent - plain_a2b" helps by 0.6 dB from freshness alone: beyond capacity must not be shown. Where the fresh
    branch costs 0.1 dB only, it is found."""
    design = inherited_design(seeds=range(8))
    rng = np.random.default_rng(17)
    freshness_only = removal_beyond_rate(design, -0.6, rng)
    found = removal_beyond_rate(design, -0.1, rng)
    print({"beyond capacity, freshness alone": freshness_only, "beyond capacity, planted": found})
    assert freshness_only <= 0.07 and found >= 0.8


@pytest.mark.parametrize(
    ("group_verdicts", "claim"),
    [
        ([("helps", verdicts.AT_LEAST_MARGIN), ("no effect", None)], verdicts.DEPTH_SELECTIVE),
        ([("helps", None), ("hurts", None)], verdicts.DEPTH_SELECTIVE),
        ([("helps", None), ("no effect", None)], verdicts.INCONCLUSIVE),  # [0.001, 0.06] beside [-0.01, 0.049]
        ([("helps", verdicts.BELOW_MARGIN), ("no effect", None)], verdicts.INCONCLUSIVE),
        ([("helps", None), ("helps", verdicts.AT_LEAST_MARGIN)], verdicts.HELPS_EVERYWHERE),
    ],
)
def test_a_depth_selective_claim_needs_intervals_that_do_not_overlap(group_verdicts, claim) -> None:
    assert verdicts.claim([verdicts.Verdict(word, size) for word, size in group_verdicts]) == claim
