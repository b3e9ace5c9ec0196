"""The report's yardsticks: a fixed hypervolume reference, seed noise with its interval,
front shares on every seed, and the load-time warnings of a space its report cannot support."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.core import bounds, counting, genotypes, pinned_spaces, spaces
from nas.core.objectives import COUNTED_COSTS
from nas.report import analysis, build
from nas.report.reference import psnr_floor, space_reference

SPACE = {
    "name": "yard", "scale": 2, "channels": 16, "upsampler_channels": 4, "depth": 2, "choices": ["none", "ca", "pa"],
    "proxy": {"iterations": 20, "batch_size": 2, "patch_size": 16, "lr": 1.0e-3, "seeds": [0, 1]},
}  # fmt: skip


def trials(psnrs: list[float], costs: list[float]) -> pd.DataFrame:
    count = len(psnrs)
    return pd.DataFrame({
        "number": range(count), "state": "COMPLETE", "outcome": "trained", "psnr": psnrs, "macs": costs,
        "genotype": [f"g{i}" for i in range(count)], "seed": 0, "baseline": None,
    })  # fmt: skip


def test_normalised_hypervolume_of_a_known_front() -> None:
    points = pd.DataFrame({"psnr": [33.0, 40.0, 32.0], "macs": [1.0, 3.0, 2.0]})
    reference = analysis.Reference(psnr=30.0, cost=4.0)
    # Shares of the floor's squared error removed: 3 dB → 1 − 10^−0.3, 10 dB → 0.9; the third point is dominated.
    expected = (1 - 10**-0.3) * (3 - 1) / 4 + 0.9 * (4 - 3) / 4
    assert analysis.hypervolume(points, "macs", reference) == pytest.approx(expected)
    everything = pd.DataFrame({"psnr": [1e9], "macs": [0.0]})
    assert analysis.hypervolume(everything, "macs", reference) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def space(small_images: Path) -> spaces.SearchSpace:
    return spaces.parse({**SPACE, "data": {"train": str(small_images), "val": str(small_images)}})


def test_fixed_reference_and_hypervolume_ignore_a_diverged_trial(space: spaces.SearchSpace) -> None:
    rng = np.random.default_rng(0)
    floor, ceiling = psnr_floor(space), counting.network_cost(bounds.costliest(space, "macs")).macs
    frame = trials(list(floor + rng.uniform(0.2, 3.0, 20)), list(ceiling * rng.uniform(0.3, 1.0, 20)))
    diverged = pd.concat([frame, trials([5.0], [1e15]).assign(number=20, genotype="diverged")])
    before, after = space_reference(space, frame, "macs"), space_reference(space, diverged, "macs")
    assert before == after
    assert before.psnr == floor and "bicubic ×2" in before.psnr_basis
    assert before.cost == ceiling and str(bounds.costliest(space, "macs")) in before.cost_basis
    volume = analysis.hypervolume(frame, "macs", before)
    assert 0 < volume < 1
    assert analysis.hypervolume(diverged, "macs", after) == volume
    curve = analysis.hypervolume_curve(diverged, "macs", after)
    assert curve["hypervolume"].iloc[-1] == volume
    # The data-dependent reference this replaces moves with that one trial.
    assert analysis.reference_point(frame, "macs") != analysis.reference_point(diverged, "macs")


def test_reference_uses_the_constraint_and_falls_back_when_the_validation_folder_is_gone(
    space: spaces.SearchSpace, tmp_path: Path
) -> None:
    frame = trials([31.0, 33.0], [1e9, 2e9])
    constrained = spaces.parse({**SPACE, "constraints": {"max_macs": 5e9}})
    assert space_reference(constrained, frame, "macs").cost == 5e9
    gone = pinned_spaces.from_json(
        {**pinned_spaces.to_json(space), "data": {"train": "builtin", "val": str(tmp_path / "gone")}}
    )
    fallback = space_reference(gone, frame, "macs")
    assert fallback.psnr == 31.0 and fallback.psnr_basis.startswith("worst PSNR seen")
    assert "moves with the data" in fallback.psnr_basis and "does not exist" in fallback.psnr_basis


def test_costliest_genotype_takes_the_costliest_choice_at_every_depth(space: spaces.SearchSpace) -> None:
    for cost in COUNTED_COSTS:
        costliest = getattr(counting.network_cost(bounds.costliest(space, cost)), cost)
        for first in space.choices:
            for second in space.choices:
                genotype = genotypes.from_placement(space, [first, second])
                assert getattr(counting.network_cost(genotype), cost) <= costliest


def test_seed_noise_interval_covers_the_true_sigma_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    sigma, simulations = 0.05, 2000
    covered, robust = 0, []
    for _ in range(simulations):
        noise = analysis.pooled_noise(list(37 + rng.normal(0, sigma, (6, 3))))
        covered += noise.low_db <= sigma <= noise.high_db
        robust.append(noise.robust_db)
    assert noise.dof == 12 and noise.genotypes == 6 and noise.runs == 18
    assert 0.93 < covered / simulations < 0.97
    assert np.median(robust) == pytest.approx(sigma, rel=0.1)


def baseline_runs(rng: np.random.Generator, seeds: int, seed_sd: float, run_sd: float) -> pd.DataFrame:
    """Uniform baselines under common random numbers: each seed moves every arm alike (``seed_sd``), each run adds
    its own noise (``run_sd``); the arms' true effects differ, which is not noise."""
    shared = rng.normal(0, seed_sd, seeds)
    rows = []
    for effect, block in zip([0.0, 0.3, -0.2, 0.1], ["none", "ca", "pa", "a2b"], strict=True):
        for seed in range(seeds):
            psnr = 37 + effect + shared[seed] + rng.normal(0, run_sd)
            rows.append({"outcome": "trained", "baseline": f"uniform:{block}", "seed": seed, "psnr": psnr})
    search_run = {"outcome": "trained", "baseline": None, "seed": 0, "psnr": 40.0}  # not a baseline: left out
    return pd.DataFrame([*rows, search_run])


@pytest.mark.slow
@pytest.mark.parametrize(("seed_sd", "run_sd"), [(0.25, 0.03), (0.1, 0.1), (0.0, 0.33)])
def test_paired_noise_interval_covers_the_true_difference_sd_95_percent_of_the_time(seed_sd, run_sd) -> None:
    rng = np.random.default_rng(3)
    truth, simulations, seeds = np.sqrt(2) * run_sd, 1000, 4
    covered, correlations = 0, []
    for _ in range(simulations):
        paired = analysis.paired_noise(baseline_runs(rng, seeds, seed_sd, run_sd))
        covered += paired.low_db <= truth <= paired.high_db
        correlations.append(paired.correlation)
    assert paired.dof == 3 * (seeds - 1) and paired.baselines == 4 and paired.runs == 4 * seeds
    assert 0.93 < covered / simulations < 0.97
    true_correlation = seed_sd**2 / (seed_sd**2 + run_sd**2)
    assert np.median(correlations) == pytest.approx(true_correlation, abs=0.1)


def test_paired_noise_needs_two_baselines_that_share_two_seeds() -> None:
    runs = baseline_runs(np.random.default_rng(0), 3, 0.2, 0.03)
    assert analysis.paired_noise(runs[runs["baseline"] == "uniform:none"]).std_db is None
    assert analysis.paired_noise(runs[runs["seed"] == 0]).std_db is None
    assert analysis.paired_noise(runs[runs["baseline"].isin(["uniform:none", "uniform:ca"])]).dof == 2
    assert analysis.paired_noise(runs).paired_band_db() is not None


def test_one_bad_run_moves_the_robust_seed_noise_little() -> None:
    rng = np.random.default_rng(11)
    groups = list(37 + rng.normal(0, 0.05, (10, 3)))
    clean = analysis.pooled_noise(groups)
    groups[0] = groups[0] + np.array([1.0, 0.0, 0.0])  # one run a dB off
    spoiled = analysis.pooled_noise(groups)
    assert spoiled.std_db > 3 * clean.std_db
    assert abs(spoiled.robust_db - clean.robust_db) < 0.25 * clean.robust_db


def test_one_seed_gives_no_noise_estimate_and_no_band() -> None:
    frame = trials([31.0, 32.0], [1.0, 2.0])
    noise = analysis.seed_noise(frame)
    assert noise.std_db is None and noise.robust_db is None and noise.single_run_band_db() is None
    band = analysis.pooled_noise([np.array([30.0, 30.1])]).single_run_band_db()
    dof1_upper = 0.1 / np.sqrt(2) * np.sqrt(1 / stats.chi2.ppf(0.025, 1))
    assert band == pytest.approx(stats.norm.ppf(0.975) * np.sqrt(2) * dof1_upper)


def test_front_shares_count_uniform_runs_of_every_seed() -> None:
    frame = pd.DataFrame({
        "genotype": ["u0", "u0", "ua", "ua", "m1", "m1"], "seed": [0, 1, 0, 1, 0, 0],
        "baseline": ["uniform:none", "uniform:none", "uniform:ca", "uniform:ca", None, None],
        "psnr": [30.0, 30.0, 31.0, 29.0, 30.5, 30.5], "macs": [1.0, 1.0, 3.0, 3.0, 2.0, 2.0],
    })  # fmt: skip
    # The mixed run dominates ua's seed-1 run only; its seed-0 run is the best point (seed 0 alone: 0 dominated).
    shares = analysis.front_shares(frame, "macs", analysis.Reference(psnr=28.0, cost=4.0))
    assert (shares.uniform_runs, shares.uniform_dominated) == (4, 1)
    assert (shares.mixed_on_front, shares.uniform_on_front) == (1, 3)  # the duplicate row counts once
    assert shares.volume_uniform < shares.volume_all and shares.volume_mixed < shares.volume_all


def test_warnings_name_what_a_space_cannot_support(tmp_path: Path) -> None:
    crowded = spaces.parse({**SPACE, "depth": 4, "choices": ["none", "ca", "pa", "pam"],
                            "proxy": {**SPACE["proxy"], "seeds": [0]}, "constraints": {"max_macs": 30e9}})  # fmt: skip
    found = bounds.support_warnings(crowded, trials=12)
    assert bounds.one_hot_coefficients(crowded) == 13
    assert len(found) == 3
    assert "no seed-noise estimate" in found[0]
    assert "13 coefficients but the study runs 12 trials" in found[1]
    assert found[2].startswith("block 'pam' can never be trained") and "max_macs 3e+10" in found[2]
    assert bounds.support_warnings(crowded, trials=14) == [found[0], found[2]]


def test_sr_light_supports_its_report() -> None:
    # pam's exclusion is checked where it is cheap (test_warnings_name_what_a_space_cannot_support): counting all
    # of sr_light's blocks at 640×360 takes tens of seconds.
    sr_light = spaces.load(Path(__file__).resolve().parents[1] / "search_spaces" / "sr_light.yaml")
    assert "pam" not in sr_light.all_blocks() and len(sr_light.proxy.seeds) >= 3
    assert bounds.one_hot_coefficients(sr_light) == 212 < sr_light.search.trials


def test_a_band_compares_runs_of_one_seed_against_the_paired_noise_and_others_against_one_runs_noise() -> None:
    rng = np.random.default_rng(5)
    baselines = baseline_runs(rng, 4, seed_sd=0.3, run_sd=0.01).assign(
        state="COMPLETE", macs=1.0, genotype=lambda f: f["baseline"].fillna("mixed")
    )
    baselines = baselines[baselines["baseline"].notna()]
    noise, paired = analysis.seed_noise(baselines), analysis.paired_noise(baselines)
    assert paired.paired_band_db() < 0.1 < noise.single_run_band_db()
    best_uniform = baselines.loc[baselines["psnr"].idxmax()]
    mixed = {"state": "COMPLETE", "outcome": "trained", "macs": 1.0, "genotype": "mixed", "baseline": None}
    readings = {best_uniform["seed"]: "beyond paired noise (same seed), unconfirmed", 9: "within seed noise"}
    for seed, reading in readings.items():
        extra = pd.DataFrame([{**mixed, "seed": seed, "psnr": best_uniform["psnr"] + 0.1}])
        frame = pd.concat([baselines, extra], ignore_index=True)
        frame = frame.assign(gain_db=frame["psnr"] - (best_uniform["psnr"] - 1.0))  # the best uniform +1 dB
        lines = build._band_lines(frame, "macs", noise, paired, min_gain_db=0.5)
        assert lines[1].endswith(f"(+0.100 dB, {reading})"), lines
        assert "(+1.100 dB over bicubic)" in lines[1]
        # A band whose networks have not beaten bicubic by the space's minimum gain gets no answer.
        unlearned = build._band_lines(frame, "macs", noise, paired, min_gain_db=1.05)[1]
        assert unlearned.endswith(
            f"best uniform {best_uniform['baseline']} {best_uniform['psnr']:.3f} dB: not drawn: the band's networks "
            "score +1.00 to +1.10 dB over bicubic (the weakest: "
            f"{best_uniform['baseline']}), under the 1.05 dB this space asks of a proxy that has learned "
            "(proxy.min_gain_db)"
        ), unlearned
