"""The objective registry: consistent with itself and with the modules that read it, and the only place that lists
objective names or constraint keys."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import optuna
import pytest
import yaml

from nas.core import objectives, pareto, spaces
from nas.core.objectives import CONSTRAINT_KEYS, COSTS, COUNTED_COSTS, OBJECTIVES, Objective, of_constraint
from nas.report import analysis, report_pages
from nas.study import lifecycle
from nas.study.folder import StudyFolder
from nas.study.records import Outcome, TrialRecord, csv_columns, write_trials_csv

ROOT = Path(__file__).resolve().parents[1]
SPACE = {
    "name": "costs", "scale": 2, "channels": 16, "depth": 2, "choices": ["none", "ca"],
    "proxy": {"iterations": 10, "batch_size": 2, "patch_size": 16, "lr": 1.0e-3, "seeds": [0, 1]},
}  # fmt: skip


def test_registry_order_and_kinds() -> None:
    assert tuple(OBJECTIVES) == ("psnr", "macs", "params", "latency_ms")
    assert [name for name, objective in OBJECTIVES.items() if objective.maximized] == ["psnr"]
    assert COSTS == ("macs", "params", "latency_ms")
    assert COUNTED_COSTS == ("macs", "params")
    assert all(name == objective.name for name, objective in OBJECTIVES.items())


def test_every_constraint_key_caps_its_own_cost() -> None:
    assert OBJECTIVES["psnr"].constraint is None
    assert CONSTRAINT_KEYS == tuple(OBJECTIVES[cost].constraint for cost in COSTS)
    for key in CONSTRAINT_KEYS:
        assert OBJECTIVES[of_constraint(key).name].constraint == key
    with pytest.raises(KeyError):
        of_constraint("max_psnr")


@pytest.mark.parametrize("cost", COSTS)
def test_each_cost_axis_names_its_unit(cost: str) -> None:
    divisor, label = OBJECTIVES[cost].axis
    assert divisor > 0 and OBJECTIVES[cost].unit in label


def test_pareto_maximises_psnr_and_minimises_the_costs() -> None:
    # psnr, macs, latency: the second row is dominated by the first (worse PSNR, more MACs, same latency)
    values = np.array([[32.0, 1e9, 5.0], [31.0, 2e9, 5.0], [33.0, 3e9, 9.0], [30.0, 0.5e9, 1.0]])
    maximize = pareto.maximized(["psnr", "macs", "latency_ms"])
    assert maximize == [True, False, False]
    assert pareto.nondominated(values, maximize).tolist() == [True, False, True, True]


def test_a_space_accepts_every_constraint_key_and_names_them_when_one_is_wrong() -> None:
    limits = {key: 10.0**i for i, key in enumerate(CONSTRAINT_KEYS, start=1)}
    space = spaces.parse({**SPACE, "objectives": list(OBJECTIVES), "constraints": limits})
    assert space.objectives == tuple(OBJECTIVES)
    for key, limit in limits.items():
        assert of_constraint(key).limit(space.constraints) == limit
        assert space.uses(of_constraint(key).name)
    plain = spaces.parse(SPACE)
    assert plain.objectives == objectives.DEFAULT_OBJECTIVES
    assert not plain.uses("latency_ms") and plain.uses("macs")
    assert spaces.parse({**SPACE, "constraints": {"max_latency_ms": 5.0}}).uses("latency_ms")
    with pytest.raises(spaces.SpaceError, match=f"known: {', '.join(CONSTRAINT_KEYS)}"):
        spaces.parse({**SPACE, "constraints": {"max_psnr": 30.0}})
    with pytest.raises(spaces.SpaceError, match=f"expected a list from: {', '.join(OBJECTIVES)}"):
        spaces.parse({**SPACE, "objectives": "psnr"})


@pytest.mark.parametrize("key", CONSTRAINT_KEYS)
def test_a_record_over_a_constraint_names_the_cost_it_caps(key: str) -> None:
    cost = of_constraint(key).name
    assert TrialRecord.of(**{cost: 2.0}).constraint_violation({key: 3.0}) is None
    assert TrialRecord.of(**{cost: 4.0}).constraint_violation({key: 3.0}) == f"{cost} 4 exceeds {key} 3"


def test_trials_csv_keeps_its_column_order() -> None:
    assert csv_columns() == (
        "number", "state", "outcome", "genotype", "psnr", "ssim", "macs", "params", "latency_ms", "seed",
        "duplicate_of", "error", "train_seconds", "arm", "gain_db", "readings",
    )  # fmt: skip


def listed_names(tree: ast.AST) -> list[tuple[int, list[str]]]:
    """Line and names of each tuple, list, set or dict literal naming two or more objectives or constraint keys."""
    known = {*OBJECTIVES, *CONSTRAINT_KEYS}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items: list[ast.expr | None] = list(node.elts)
        elif isinstance(node, ast.Dict):
            items = [*node.keys, *node.values]
        else:
            continue
        names = [item.value for item in items if isinstance(item, ast.Constant) and item.value in known]
        if len(names) >= 2:
            found.append((node.lineno, names))
    return found


def test_the_scan_finds_a_listed_pair() -> None:
    assert listed_names(ast.parse('COSTS = ("macs", "params")\nLIMITS = {"max_macs": 1}')) == [(1, ["macs", "params"])]


def test_no_module_lists_objectives_outside_the_registry() -> None:
    registry = ROOT / "nas" / "core" / "objectives.py"
    sources = sorted(p for folder in ("nas", "blocks") for p in (ROOT / folder).rglob("*.py") if p != registry)
    listed = [
        f"{path.relative_to(ROOT)}:{line}: {', '.join(names)}"
        for path in sources
        for line, names in listed_names(ast.parse(path.read_text(), filename=str(path)))
    ]
    assert not listed, "read these from nas.core.objectives instead:\n" + "\n".join(listed)


# An objective a new record in the registry would add: a cost measured beside the training.
PLANTED = Objective("planted_ms", False, "ms", "a planted cost", None, False, (1.0, "planted (ms)"), "cost",
                    ("planted (ms)", 1.0, ".2f"))  # fmt: skip


@pytest.fixture
def planted() -> str:
    """The registry with ``PLANTED`` in it, as it was again afterwards."""
    objectives.register(PLANTED)
    try:
        yield PLANTED.name
    finally:
        objectives.unregister(PLANTED.name)
    assert PLANTED.name not in OBJECTIVES


def test_a_registered_objective_is_a_record_field_a_csv_column_and_a_column_of_the_report_and_dashboard(
    planted: str, tmp_path: Path
) -> None:
    record = TrialRecord.of(genotype="x2.c16.u12:none*2", seed=0, outcome=Outcome.TRAINED, psnr=30.0, ssim=0.9,
                            macs=1e9, params=1e3, planted_ms=2.5)  # fmt: skip
    assert record.planted_ms == 2.5 and record.objective_values(("psnr", planted)) == [30.0, 2.5]
    assert TrialRecord.from_user_attrs(record.to_user_attrs()) == record
    assert csv_columns().index(planted) == csv_columns().index("latency_ms") + 1  # the costs, in registry order
    space_file = tmp_path / "planted.yaml"
    space_file.write_text(yaml.safe_dump({**SPACE, "name": "planted", "objectives": ["psnr", planted]}))
    space = spaces.load(space_file)
    opened = lifecycle.open_study(StudyFolder(tmp_path / "planted"), space, space_file, None)
    assert opened.study.metric_names == ["psnr", planted]  # the dashboard's columns
    trial = opened.study.ask()
    for key, value in record.to_user_attrs().items():
        trial.set_user_attr(key, value)
    opened.study.tell(trial, [30.0, 2.5])
    write_trials_csv(opened.csv, opened.study)
    header, row = opened.csv.read_text().splitlines()
    assert header.split(",") == list(csv_columns()) and row.split(",")[csv_columns().index(planted)] == "2.5"
    frame = analysis.trials_frame(opened.study)
    assert frame.loc[frame["state"] == "COMPLETE", planted].tolist() == [2.5]
    front = analysis.complete(frame)
    table = report_pages.markdown([], [], None, front, [], [planted]).split("## Pareto front")[1]
    assert "| SSIM | planted (ms) |" in table and "| 0.9000 | 2.50 |" in table
    assert optuna.trial.TrialState.COMPLETE in {t.state for t in opened.study.get_trials()}
