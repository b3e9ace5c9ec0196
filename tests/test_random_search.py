"""``nas random-search``: random searches of a study's space as the search's reference, and the rank test that
compares them (calibrated on synthetic searches with known truth)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nas.core import genotypes, spaces
from nas.report import analysis
from nas.report.analysis import running_hypervolume
from nas.report.random_comparison import ALPHA, RandomComparison, random_start, verdict_line
from nas.search import random_search
from nas.study import lifecycle
from nas.study.folder import StudyError, StudyFolder
from nas.study.lifecycle import baseline_genotypes

SPACE = {
    "name": "sampled", "scale": 2, "channels": 16, "upsampler_channels": 4, "depth": 3,
    "choices": ["none", "ca", "pa"],
    "proxy": {"iterations": 20, "batch_size": 2, "patch_size": 16, "lr": 1.0e-3, "seeds": [3, 4]},
    "search": {"sampler": "nsga2", "trials": 50, "seed": 7},
}  # fmt: skip
REFERENCE = analysis.Reference(psnr=30.0, cost=10.0)


def test_a_repeat_starts_with_the_searchs_uniform_placements_then_draws_each_depth_uniformly() -> None:
    space = spaces.parse(SPACE)
    enqueued = [(str(arch), seed) for _, arch in baseline_genotypes(space) for seed in (3, 4)]
    sequence = random_search.drawn_sequence(space, 2000, repeat=0)
    assert len(sequence) == 2000 and list(sequence[: len(enqueued)]) == enqueued
    drawn = sequence[len(enqueued) :]
    assert {seed for _, seed in drawn} == {3}  # the search samples at its first seed
    assert random_search.drawn_sequence(space, 2000, repeat=0) == sequence  # seeded
    assert random_search.drawn_sequence(space, 2000, repeat=1)[len(enqueued) :] != drawn
    for depth in range(3):
        counts = Counter(genotypes.Genotype.parse(genotype).blocks[depth] for genotype, _ in drawn)
        assert set(counts) == {"none", "ca", "pa"}
        assert stats.chisquare(list(counts.values())).pvalue > 0.001  # uniform per depth
    assert random_search.drawn_sequence(space, 4, repeat=0) == tuple(enqueued[:4])


def test_running_hypervolume_is_the_hypervolume_of_every_prefix_and_skips_failed_trials() -> None:
    rng = np.random.default_rng(1)
    points: list[tuple[float, float] | None] = [
        None if rng.random() < 0.2 else (float(rng.uniform(1, 10)), float(rng.uniform(29, 34))) for _ in range(40)
    ]
    running = running_hypervolume(points, REFERENCE)
    for k in range(1, 41):
        valued = [p for p in points[:k] if p is not None]
        frame = pd.DataFrame(valued, columns=["macs", "psnr"])
        expected = analysis.hypervolume(frame, "macs", REFERENCE) if valued else 0.0
        assert running[k - 1] == pytest.approx(expected)
    assert (np.diff(running) >= 0).all()


def simulated_hypervolume(rng: np.random.Generator, trials: int, shift_db: float) -> float:
    """One synthetic search: ``trials`` points of random cost, PSNR lifted by ``shift_db`` (the search's skill)."""
    costs = rng.uniform(1, 10, trials)
    psnrs = 30.5 + 0.3 * np.log(costs) + rng.normal(0, 0.2, trials) + shift_db
    return float(running_hypervolume(list(zip(costs, psnrs, strict=True)), REFERENCE)[-1])


@pytest.mark.parametrize("shift_db, low, high", [(0.0, 0.015, 0.09), (0.25, 0.8, 1.0)])
def test_the_rank_test_holds_its_level_under_the_null_and_finds_a_better_search(shift_db, low, high) -> None:
    rng = np.random.default_rng(11)
    repeats, simulations = 19, 400
    rejected = 0
    for _ in range(simulations):
        search = simulated_hypervolume(rng, 30, shift_db)
        random_volumes = tuple(simulated_hypervolume(rng, 30, 0.0) for _ in range(repeats))
        comparison = RandomComparison("macs", 30, 30, 20, search, random_volumes, repeats, missing=0)
        rejected += comparison.p_value is not None and comparison.p_value <= ALPHA
    # Null: exactly 1/20 (binomial 99.9 % bounds for 400 runs); planted: a search 0.25 dB better wins nearly always.
    assert low <= rejected / simulations <= high


def comparison(search: float, random_volumes: tuple[float, ...], **changes) -> RandomComparison:
    fields = {"cost": "macs", "trials": 30, "search_trials": 30, "guided": 20, "search_hypervolume": search,
              "random_hypervolumes": random_volumes, "repeats": len(random_volumes), "missing": 0}  # fmt: skip
    return RandomComparison(**{**fields, **changes})


def test_the_verdict_never_claims_a_win_that_its_repeats_cannot_test(space_writer, small_images, tmp_path) -> None:
    space_file = space_writer(tmp_path, "words", small_images, ["none", "ca"])
    folder = StudyFolder(tmp_path / "words")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)  # a study with no trial yet
    few = comparison(0.5, (0.1, 0.2, 0.3))
    assert few.above == 3 and few.p_value == pytest.approx(0.25) and not few.beats_random
    (text,) = verdict_line(few, folder, None)
    assert "above 3 of 3" in text and "no test at α 0.05 is possible" in text and "not shown to beat" in text
    many = comparison(0.5, tuple(np.linspace(0.1, 0.4, 19)))
    assert many.beats_random and "this search run beats random sampling" in verdict_line(many, folder, None)[0]
    tied = comparison(0.4, tuple(np.linspace(0.1, 0.4, 19)))
    assert tied.p_value == pytest.approx(0.1) and tied.ties == 1 and not tied.beats_random
    assert "and ties 1" in verdict_line(tied, folder, None)[0]
    second = comparison(0.5, (*np.linspace(0.1, 0.4, 38), 0.6))  # p = 0.05, but not first: no win
    assert second.p_value == pytest.approx(0.05) and not second.beats_random
    assert "Not shown to beat random sampling" in verdict_line(second, folder, None)[0]
    untrained = comparison(0.5, (), repeats=3, missing=4)
    assert (
        untrained.p_value is None
        and "4 runs of its 3 random searches are not trained" in verdict_line(untrained, folder, None)[0]
    )
    unguided = verdict_line(comparison(0.5, (0.1,), guided=0, search_trials=50), folder, None)[0]
    assert "random against random" in unguided and "the search has 50 now" in unguided
    assert "not drawn: the front has not learned" in verdict_line(many, folder, "the front has not learned")[0]
    assert f"nas random-search {folder.root} --repeats R" in verdict_line(None, folder, None)[0]


def test_the_sampler_guides_the_trials_after_the_uniform_placements_and_its_random_start() -> None:
    space = spaces.parse(SPACE)
    assert random_start(space.search, enqueued=6) == 6 + 50  # NSGA-II's first generation is random
    tpe = spaces.parse({**SPACE, "search": {"sampler": "tpe", "trials": 50}}).search
    assert random_start(tpe, enqueued=6) == 10 and random_start(tpe, enqueued=16) == 16  # n_startup_trials
    assert random_start(spaces.parse({**SPACE, "search": {"sampler": "random", "trials": 50}}).search, 6) == 50


def test_the_search_is_read_over_its_counted_trials_as_its_repeats_are() -> None:
    frame = pd.DataFrame({
        "number": range(6), "state": ["COMPLETE", "FAIL", "RUNNING", "COMPLETE", "FAIL", "COMPLETE"],
        "outcome": ["trained", "interrupted", "running", "trained", "failed", "duplicate"],
        "macs": [1.0, 9.0, 9.0, 2.0, 9.0, 3.0], "psnr": [31.0, 0.0, 0.0, 32.0, 0.0, 33.0],
    })  # fmt: skip
    assert analysis.counted_points(frame, "macs") == [(1.0, 31.0), (2.0, 32.0), None, (3.0, 33.0)]


def test_a_grid_search_has_no_random_baseline(tmp_path: Path) -> None:
    grid = spaces.parse({**SPACE, "search": {"sampler": "grid", "trials": 50, "seed": 0}})
    with pytest.raises(StudyError, match="a grid search trains every point of its space"):
        random_search.plan(StudyFolder(tmp_path / "grid"), grid, repeats=1)


def test_a_search_that_has_not_sampled_has_no_random_baseline(space_writer, small_images, tmp_path) -> None:
    space_file = space_writer(tmp_path, "unsampled", small_images, ["none", "ca"], seeds=(0, 1))
    folder = StudyFolder(tmp_path / "unsampled")
    lifecycle.open_study(folder, spaces.load(space_file), space_file, None)  # its 4 placements enqueued, none run
    with pytest.raises(StudyError, match="0 finished trials, no more than the 4 uniform placements it starts with"):
        random_search.plan(folder, folder.space(), repeats=1)
