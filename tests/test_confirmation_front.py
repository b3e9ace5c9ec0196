"""Which genotypes ``nas confirm`` retrains: the search's front, on studies of one objective or several."""

from __future__ import annotations

import optuna
import pytest

from nas.search import confirm_runs as confirmation
from nas.study.records import TrialRecord


def study_of(values: dict[str, tuple[float, ...]]) -> optuna.Study:
    directions = ["maximize", *["minimize"] * (len(next(iter(values.values()))) - 1)]
    study = optuna.create_study(directions=directions)
    for genotype, objective_values in values.items():
        trial = optuna.trial.create_trial(
            values=list(objective_values), user_attrs=TrialRecord(genotype=genotype).to_user_attrs()
        )
        study.add_trial(trial)
    return study


def test_a_psnr_only_study_confirms_its_best_genotypes() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = study_of({"a": (30.0,), "b": (30.5,), "c": (30.5,), "d": (29.0,)})
    assert confirmation.front_genotypes(study, ("psnr",), None) == ["b", "c"]
    assert confirmation.front_genotypes(study, ("psnr",), 1) == ["b"]  # of two equal, the first on the front


@pytest.mark.parametrize("top", [None, 2])
def test_a_two_objective_front_and_its_top_contributions(top: int | None) -> None:
    study = study_of({"a": (30.0, 1.0), "b": (31.0, 2.0), "c": (31.5, 4.0), "d": (29.0, 3.0)})
    chosen = confirmation.front_genotypes(study, ("psnr", "macs"), top)
    # b alone dominates (31 - 30) dB × (4 - 2) MACs; a and c dominate no area alone: the tie goes to the higher PSNR.
    assert chosen == (["a", "b", "c"] if top is None else ["b", "c"])
