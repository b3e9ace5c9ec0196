"""Calibration of the designed experiment's statistics on synthetic runs with known truth (no training).

PSNR = 30 dB + seed effect + planted arm effect + N(0, sigma). Rates are measured over many simulated
experiments from fixed random seeds, so every number below is reproducible.
"""

from __future__ import annotations

import gc
import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.core import spaces
from nas.core.design import ExperimentDesign, make_design
from nas.core.genotypes import Genotype
from nas.report import effects as analysis
from nas.report import verdicts

SIGMA = 0.1
MARGIN = 0.1
SEEDS = (0, 1, 2, 3)


@pytest.fixture(scope="module", autouse=True)
def short_collections():
    """statsmodels' Holm adjustment runs gc.collect(); freezing the objects the imports made keeps it short."""
    gc.freeze()
    yield
    gc.unfreeze()


def design_of(depth: int, groups, control: str | None = None, seeds=SEEDS, blocks=("a2b",)):
    space = spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": depth, "choices": ["none", "pa", "a2b"]})
    return make_design(space, list(blocks), groups, list(seeds), MARGIN, control=control)


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
        "macs": 1e9,
        "params": 1e4,
    })  # fmt: skip


def effect(result, family: str, kind: str, group: int | None) -> analysis.Effect:
    (found,) = [e for e in result.effects if (e.family, e.kind, e.group) == (family, kind, group)]
    return found


def test_without_effects_the_tests_reject_and_the_intervals_cover_at_their_nominal_rates() -> None:
    design = design_of(4, [(0,), (1,), (2,), (3,)])
    rng = np.random.default_rng(2024)
    truth = np.zeros(len(design.arms))
    depth_rejections = omnibus_rejections = all_cover = noise_covers = claims = 0
    experiments = 400
    for _ in range(experiments):
        result = analysis.analyse(simulate(design, truth, rng), design)
        depth_rejections += result.depth_tests[0].p_value < 0.05
        omnibus_rejections += result.omnibus.rejects
        all_cover += all(e.low_db <= 0.0 <= e.high_db for e in result.effects)
        noise_covers += result.noise.low_db <= SIGMA <= result.noise.high_db
        claims += any(e.verdict in ("helps", "hurts") for e in result.effects)
    assert result.interval.contrasts == 9 and result.noise.dof == 27
    rates = {
        "depth": depth_rejections / experiments,
        "omnibus": omnibus_rejections / experiments,
        "family_coverage": all_cover / experiments,
        "noise_coverage": noise_covers / experiments,
        "helps_or_hurts": claims / experiments,
    }
    print(rates)
    assert 0.02 <= rates["depth"] <= 0.07
    assert 0.02 <= rates["omnibus"] <= 0.07
    assert rates["family_coverage"] >= 0.93  # simultaneous (Bonferroni): at least 95 % up to sampling error
    assert 0.92 <= rates["noise_coverage"] <= 0.98
    assert rates["helps_or_hurts"] <= 0.05


def test_a_planted_effect_at_one_group_reads_helps_there_only_and_depends_on_depth() -> None:
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv")
    truth = planted_at(design, {0, 1}, 0.3)  # attention at depths 0-1; the capacity control does nothing
    rng = np.random.default_rng(7)
    experiments = 50
    counts = {"only": 0, "drop": 0, "beyond control": 0, "other helps": 0, "depth": 0, "control depth": 0}
    for _ in range(experiments):
        result = analysis.analyse(simulate(design, truth, rng), design)
        assert result.omnibus.rejects
        counts["only"] += effect(result, "attention", "only", 0).verdict == "helps"
        counts["drop"] += effect(result, "attention", "drop", 0).verdict == "helps"
        counts["beyond control"] += effect(result, "attention - control", "only", 0).verdict == "helps"
        others = [e for e in result.effects if e.group not in (0, None) or e.family == "control"]
        counts["other helps"] += any(e.verdict in ("helps", "hurts") for e in others)
        tests = {t.name: t for t in result.depth_tests}
        counts["depth"] += tests["a2b"].rejects
        counts["control depth"] += tests["conv(a2b)"].rejects
    print(counts)
    assert result.interval.contrasts == 27
    # 0.3 dB against a 27-fold Bonferroni interval of about ±0.23 dB: found in most experiments, not all.
    assert counts["only"] >= 0.8 * experiments and counts["drop"] >= 0.8 * experiments
    assert counts["beyond control"] >= 0.7 * experiments
    assert counts["other helps"] <= 0.05 * experiments
    assert counts["depth"] == experiments
    assert counts["control depth"] <= 0.1 * experiments


def test_one_planted_experiment_in_words() -> None:
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)])
    result = analysis.analyse(simulate(design, planted_at(design, {0, 1}, 0.3), np.random.default_rng(1)), design)
    assert [effect(result, "attention", kind, 0).verdict for kind in ("only", "drop")] == ["helps", "helps"]
    assert not any(e.verdict == "helps" for e in result.effects if e.group not in (0, None))
    text = "\n".join(result.verdict)
    assert "a2b: depends on depth (F(6, 27)" in text
    assert "a2b at depths 0-1: alone helps (+0.246 dB [+0.074, +0.417])" in text
    assert "10 arms x 4 seeds, paired by seed (40 runs used, 0 ignored)" in text
    assert "simultaneous over 9 contrasts (Bonferroni)" in text
    for line in result.verdict[4:]:
        assert any(word in line for word in (*analysis.VERDICTS, "depends on depth")), line


def test_the_omnibus_gate_turns_pure_noise_into_an_inconclusive_budget_message() -> None:
    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv")
    rng = np.random.default_rng(3)
    result = analysis.analyse(simulate(design, np.zeros(len(design.arms)), rng), design)
    assert not result.omnibus.rejects
    needed = analysis.seeds_needed(result.noise.std_db, MARGIN, 27)
    assert result.seeds_to_detect_margin == needed > len(SEEDS)
    assert f"inconclusive at this budget: about {needed} seeds would detect 0.1 dB" in result.verdict[3]
    assert len(result.verdict) == 4  # no per-depth finding
    assert not any(e.verdict in ("helps", "hurts") for e in result.effects)


def test_precise_runs_without_effects_read_no_effect_even_behind_a_closed_gate() -> None:
    design = design_of(4, [(0, 1), (2, 3)])
    result = analysis.analyse(simulate(design, np.zeros(len(design.arms)), np.random.default_rng(5), 0.01), design)
    assert not result.omnibus.rejects
    assert {e.verdict for e in result.effects} == {"no effect"}
    for e in result.effects:  # the TOST p-value and the equivalence interval say the same thing
        assert e.tost_p < design.alpha / result.interval.contrasts
        assert -MARGIN < e.equivalence_low_db < e.equivalence_high_db < MARGIN
        assert e.low_db < e.equivalence_low_db and e.equivalence_high_db < e.high_db
    assert sum(line.startswith("no effect: ") for line in result.verdict) == len(result.effects)


@pytest.mark.parametrize(
    ("estimate", "low", "high", "eq_low", "eq_high", "gate", "verdict"),
    [
        (0.30, 0.05, 0.55, 0.10, 0.50, True, "helps"),
        (-0.30, -0.55, -0.05, -0.50, -0.10, True, "hurts"),
        (0.30, 0.05, 0.55, 0.10, 0.50, False, "inconclusive"),
        (0.05, 0.01, 0.09, 0.02, 0.08, True, "no effect"),  # excludes 0 but below the margin: equivalent
        (0.05, 0.01, 0.09, 0.02, 0.08, False, "no effect"),
        (0.08, -0.20, 0.36, -0.10, 0.26, True, "inconclusive"),
    ],
)
def test_verdict_words(estimate, low, high, eq_low, eq_high, gate, verdict) -> None:
    assert verdicts.classify(estimate, low, high, eq_low, eq_high, MARGIN, gate) == verdict


def test_seeds_needed_and_the_minimum_detectable_effect_agree() -> None:
    for noise, margin, contrasts in [(0.1, 0.1, 9), (0.05, 0.1, 27), (0.1, 0.3, 1), (0.2, 0.1, 9)]:
        seeds = analysis.seeds_needed(noise, margin, contrasts)
        assert analysis.minimum_detectable_effect(noise, seeds, contrasts) <= margin
        if seeds > 2:
            assert analysis.minimum_detectable_effect(noise, seeds - 1, contrasts) > margin
    # More seeds detect smaller effects; more contrasts need more seeds.
    assert analysis.minimum_detectable_effect(0.1, 20, 9) < analysis.minimum_detectable_effect(0.1, 10, 9)
    assert analysis.seeds_needed(0.1, 0.1, 27) > analysis.seeds_needed(0.1, 0.1, 9) > analysis.seeds_needed(0.1, 0.1, 1)
    # Against the normal approximation n = ((z(1 - a/2m) + z(power)) / d)^2, which the t-test needs a few more than.
    d = 0.1 / (np.sqrt(2) * 0.1)
    normal = ((stats.norm.ppf(1 - 0.05 / 18) + stats.norm.ppf(0.8)) / d) ** 2
    assert normal < analysis.seeds_needed(0.1, 0.1, 9) <= normal + 5
    assert analysis.seeds_needed(0.01, 0.1, 5) == 4  # where a few seeds suffice (a root finder fails there)


def test_at_the_seeds_needed_a_margin_sized_effect_is_detected_with_the_planned_power() -> None:
    seeds = analysis.seeds_needed(SIGMA, 0.2, 5)  # 4 arms of a two-group design: 5 contrasts
    design = design_of(4, [(0, 1), (2, 3)], seeds=range(seeds))
    truth = planted_at(design, {0, 1}, 0.2)  # only 0-1 - none is 0.2 dB
    rng = np.random.default_rng(11)
    experiments = 150
    detected = 0
    for _ in range(experiments):
        result = analysis.analyse(simulate(design, truth, rng), design)
        assert result.interval.contrasts == 5
        detected += effect(result, "attention", "only", 0).low_db > 0
    print({"seeds": seeds, "power": detected / experiments})
    assert 0.75 <= detected / experiments <= 0.95


def test_result_round_trips_through_json_and_lists_its_arms() -> None:
    design = design_of(4, [(0, 1), (2, 3)], control="conv")
    runs = simulate(design, np.zeros(len(design.arms)), np.random.default_rng(0))
    extra = pd.DataFrame({"genotype": ["x2.c16.u24:pa*4", runs["genotype"][0]], "seed": [0, 99], "psnr": [31.0, 31.0],
                          "macs": [1.0, 1.0], "params": [1.0, 1.0]})  # fmt: skip
    failed = runs.iloc[:1].assign(psnr=np.nan)
    result = analysis.analyse(pd.concat([runs, extra, failed], ignore_index=True), design)
    assert (result.runs_used, result.runs_ignored) == (len(runs), 3)
    data = result.to_json()
    assert json.loads(json.dumps(data)) == data
    assert data["interval"]["over"] == "4 seeds per arm, paired by seed (seed a blocking factor)"
    only = next(a for a in result.arms if a.label == "a2b only 0-1")
    assert only.roles == ("a2b only 0-1", "a2b drop 2-3") and only.runs == 4 and only.params == 1e4
    frame = result.effects_frame()
    assert len(frame) == result.interval.contrasts == 15 and set(frame["family"]) == set(analysis.FAMILIES)


def test_runs_that_cannot_be_analysed_are_refused_clearly() -> None:
    design = design_of(4, [(0, 1), (2, 3)])
    runs = simulate(design, np.zeros(len(design.arms)), np.random.default_rng(0))
    with pytest.raises(analysis.ExperimentDataError, match="lack the column"):
        analysis.analyse(runs.drop(columns="macs"), design)
    with pytest.raises(analysis.ExperimentDataError, match="a2b uniform have no runs"):
        analysis.analyse(runs[runs["genotype"] != design.arm("a2b", "uniform").genotype], design)
    with pytest.raises(analysis.ExperimentDataError, match="no residual degrees of freedom"):
        analysis.analyse(runs[runs["seed"] == 0], design)


def test_forest_plots_show_every_group_both_arm_kinds_and_the_control(tmp_path) -> None:
    from nas.report import figures

    design = design_of(8, [(0, 1), (2, 3), (4, 5), (6, 7)], control="conv")
    result = analysis.analyse(simulate(design, planted_at(design, {0, 1}, 0.3), np.random.default_rng(1)), design)
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
    assert attention.x[1] == pytest.approx(only.estimate_db) and attention.y[1] == pytest.approx(1 - 0.15)
    assert attention.error_x.array[1] == pytest.approx(only.high_db - only.estimate_db)
    (band,) = [shape for shape in figure.layout.shapes if shape.type == "rect"]
    assert (band.x0, band.x1) == (-MARGIN, MARGIN)
