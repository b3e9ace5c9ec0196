"""The inherited search's tilt towards its parent: slots changed from the parent counted per trial, and the PSNR per
changed slot recovered with calibrated intervals from synthetic searches with a known cost of changing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nas.core.genotypes import Genotype
from nas.report import inheritance_bias

PARENT = "x2.c8.u4:a2b*4"
CHOICES = ["a2b", "none", "pa"]


def search(rng: np.random.Generator, per_slot_db: float, trials: int = 60) -> pd.DataFrame:
    """A synthetic inherited search: the parent baseline, then trials with random blocks; PSNR falls by
    ``per_slot_db`` per slot changed from a2b, plus a seed shift and noise."""
    placements = [["a2b"] * 4] + [list(rng.choice(CHOICES, 4)) for _ in range(trials - 1)]
    seeds = [0] + list(rng.integers(0, 2, trials - 1))
    changed = np.array([sum(b != "a2b" for b in p) for p in placements])
    psnr = 37.8 - per_slot_db * changed + 0.05 * np.array(seeds) + rng.normal(0, 0.03, trials)
    frame = pd.DataFrame({
        "number": range(trials), "state": "COMPLETE", "outcome": "trained", "psnr": psnr, "seed": seeds,
        "genotype": [f"x2.c8.u4:{'-'.join(p)}" for p in placements], "baseline": ["parent"] + [None] * (trials - 1),
    })  # fmt: skip
    for depth in range(4):
        frame[f"d{depth:02d}"] = [p[depth] for p in placements]
    return frame


def test_changed_slots_count_the_depths_that_differ_from_the_parent() -> None:
    frame = search(np.random.default_rng(0), 0.1, trials=20)
    parent = Genotype.parse(PARENT)
    expected = [sum(frame[f"d{d:02d}"].iloc[i] != "a2b" for d in range(4)) for i in range(20)]
    assert list(inheritance_bias.changed_slots(frame, parent)) == expected and expected[0] == 0


def test_the_cost_per_changed_slot_is_recovered_and_its_interval_covers_the_truth() -> None:
    rng = np.random.default_rng(3)
    covered, simulations = 0, 300
    for _ in range(simulations):
        frame = search(rng, 0.1)
        found = inheritance_bias.bias(frame, frame.head(5), Genotype.parse(PARENT))
        assert found is not None and found.parent == PARENT and found.trainings == 59  # the sampled trials
        covered += found.low_db <= -0.1 <= found.high_db
    assert 0.92 <= covered / simulations <= 0.98  # nominal 95 %
    assert found.slope_db == pytest.approx(-0.1, abs=0.01)
    line = inheritance_bias.bias_line(found)[0]
    assert f"`{PARENT}`" in line and "per changed slot" in line and "an association" in line


def test_a_study_without_a_parent_or_with_too_few_trainings_says_nothing() -> None:
    frame = search(np.random.default_rng(1), 0.1)
    assert inheritance_bias.bias(frame, frame, None) is None
    assert inheritance_bias.bias(frame.head(3), frame.head(3), Genotype.parse(PARENT)) is None
    assert inheritance_bias.bias_line(None) == []


def test_a_parent_that_is_a_uniform_placement_is_found_and_the_placements_do_not_set_the_slope() -> None:
    """A2N is a2b at every depth, so the search labels it `uniform:a2b`; the enqueued placements sit at 0 and 4
    changed slots and here lie far off the sampled trials' line: leaving them out keeps the planted slope."""
    frame = search(np.random.default_rng(5), 0.1).assign(baseline=None)
    placements = search(np.random.default_rng(6), 0.0, trials=3)
    placements["d00"] = placements["d01"] = placements["d02"] = placements["d03"] = "none"
    placements["genotype"] = "x2.c8.u4:none*4"
    placements["baseline"], placements["psnr"] = "uniform:none", 20.0
    found = inheritance_bias.bias(pd.concat([frame, placements]), frame.head(3), Genotype.parse(PARENT))
    assert found is not None and found.trainings == 60 and found.low_db <= -0.1 <= found.high_db
