"""The arms of a designed attention-placement experiment (nas.core.experiment_design)."""

from __future__ import annotations

import pytest

from nas.core import capacity, spaces
from nas.core.experiment_design import CAPACITY, MECHANISM, Arm, ExperimentError, Role, make_design
from nas.core.genotypes import Genotype

GROUPS = ((0, 1), (2, 3), (4, 5), (6, 7))


def space(depth: int = 8, **extra: object) -> spaces.SearchSpace:
    return spaces.parse({"name": "t", "scale": 2, "channels": 16, "depth": depth, "choices": ["none", "pa", "a2b"],
                         **extra})  # fmt: skip


def placement(arm: Arm) -> tuple[str, ...]:
    return Genotype.parse(arm.genotype).blocks


def test_arms_of_two_blocks_with_their_controls() -> None:
    design = make_design(space(), ["a2b", "pa"], GROUPS, [0, 1, 2, 3], 0.1)
    # none, then per block: uniform + 4 only + 4 drop, the same for its capacity control and its mechanism control.
    assert len(design.arms) == 1 + 2 * 27
    assert len({arm.genotype for arm in design.arms}) == len(design.arms)
    assert placement(design.arm("a2b", "none")) == ("none",) * 8
    assert placement(design.arm("a2b", "only", 1)) == ("none", "none", "a2b", "a2b") + ("none",) * 4
    assert placement(design.arm("pa", "drop", 3)) == ("pa",) * 6 + ("none", "none")
    control = design.arm("a2b", "drop", 0, control=CAPACITY)
    assert placement(control) == ("none", "none") + ("conv",) * 6
    assert control.label == "conv(a2b) drop 0-1"
    assert design.arm("pa", "only", 2).label == "pa only 4-5"
    a2b_options = Genotype.parse(control.genotype).options_for("conv")
    pa_options = Genotype.parse(design.arm("pa", "uniform", control=CAPACITY).genotype).options_for("conv")
    assert capacity.matched_control("a2b", 16).options == {"inner_channels": 45, "kernel_size": 3}
    assert a2b_options == {"inner_channels": 45}  # a genotype id leaves out an option at its default
    assert pa_options == {"inner_channels": 8, "kernel_size": 1}
    fixed = design.arm("pa", "only", 1, control=MECHANISM)
    assert placement(fixed) == ("none", "none", "fixed_pa", "fixed_pa") + ("none",) * 4
    assert fixed.label == "fixed_pa only 2-3"
    assert design.controls_of("a2b") == design.controls_of("pa") == (CAPACITY, MECHANISM)
    assert [block for block, _ in design.matches] == ["a2b", "pa"] and not design.gaps


def test_arms_that_are_the_same_genotype_are_trained_once() -> None:
    whole = make_design(space(), ["pa"], [tuple(range(8))], [0, 1], 0.1, control=None, mechanism=False)
    assert [arm.label for arm in whole.arms] == ["none", "pa uniform"]
    assert whole.arm("pa", "only", 0) is whole.arm("pa", "uniform")
    assert whole.arm("pa", "drop", 0) is whole.arm("pa", "none")
    halves = make_design(space(), ["pa"], [(0, 1, 2, 3), (4, 5, 6, 7)], [0, 1], 0.1, control=None, mechanism=False)
    assert len(halves.arms) == 4  # only 0-3 is drop 4-7 and only 4-7 is drop 0-3
    assert halves.arm("pa", "drop", 1) is halves.arm("pa", "only", 0)
    assert halves.arm("pa", "only", 0).also == (Role("pa", "drop", 1),)


def test_a_design_trains_only_the_arm_kinds_it_lists() -> None:
    design = make_design(space(), ["a2b", "pa"], GROUPS, [0, 1], 0.1, kinds=("uniform", "only"))
    # none, then per block: uniform + 4 only, the same for its capacity control and its mechanism control.
    assert len(design.arms) == 1 + 2 * 3 * 5
    assert {arm.kind for arm in design.arms} == {"none", "uniform", "only"}
    assert design.kinds(None) == design.kinds(CAPACITY) == ("uniform", "only")
    assert placement(design.arm("pa", "only", 2, control=MECHANISM)) == ("none",) * 4 + ("fixed_pa",) * 2 + (
        "none",
        "none",
    )
    with pytest.raises(KeyError):
        design.arm("a2b", "drop", 0)


def test_depths_that_exclude_the_block_keep_none() -> None:
    design = make_design(
        space(overrides={2: ["none", "pa"]}), ["a2b"], GROUPS, [0, 1], 0.1, control=None, mechanism=False
    )
    assert placement(design.arm("a2b", "uniform")) == ("a2b", "a2b", "none") + ("a2b",) * 5
    assert placement(design.arm("a2b", "only", 1)) == ("none", "none", "none", "a2b") + ("none",) * 4


@pytest.mark.parametrize(
    ("blocks", "groups", "seeds", "margin", "control", "message"),
    [
        (["none"], GROUPS, [0, 1], 0.1, None, "reference of every effect"),
        (["ca"], GROUPS, [0, 1], 0.1, None, "not a choice of space"),
        (["pa", "pa"], GROUPS, [0, 1], 0.1, None, "once"),
        (["pa"], [(0, 1), (1, 2)], [0, 1], 0.1, None, "must not overlap"),
        (["pa"], [(0, 8)], [0, 1], 0.1, None, "depths from 0 to 7"),
        (["pa"], [()], [0, 1], 0.1, None, "non-empty"),
        (["pa"], [], [0, 1], 0.1, None, "at least one depth group"),
        (["pa"], GROUPS, [0], 0.1, None, "at least two distinct seeds"),
        (["pa"], GROUPS, [0, 1], 0.0, None, "margin_db"),
        (["pa"], GROUPS, [0, 1], 0.1, "pa", "must differ"),
    ],
)
def test_impossible_designs_are_refused_clearly(blocks, groups, seeds, margin, control, message) -> None:
    with pytest.raises(ExperimentError, match=message):
        make_design(space(), blocks, groups, seeds, margin, control=control)


def test_a_group_where_the_block_is_never_allowed_is_refused() -> None:
    excluded = space(overrides={0: ["none"], 1: ["none", "pa"]})
    with pytest.raises(ExperimentError, match=r"groups\[0\] \[0, 1\]: block 'a2b' is not a choice"):
        make_design(excluded, ["a2b"], GROUPS, [0, 1], 0.1)


def test_a_control_that_cannot_be_built_is_named_and_the_blocks_other_arms_stay() -> None:
    with_ca = spaces.parse({"name": "t", "scale": 2, "channels": 40, "depth": 4, "choices": ["none", "ca", "pam"]})
    design = make_design(with_ca, ["ca", "pam"], [(0, 1), (2, 3)], [0, 1], 0.1)
    gaps = {(gap.block, gap.control): gap.reason for gap in design.gaps}
    assert set(gaps) == {("ca", CAPACITY), ("pam", MECHANISM)}
    assert "no capacity control for 'ca' at C=40" in gaps["ca", CAPACITY] and "+18.8%" in gaps["ca", CAPACITY]
    assert "declares no single gate" in gaps["pam", MECHANISM]
    assert design.controls_of("ca") == (MECHANISM,) and design.controls_of("pam") == (CAPACITY,)
    # none; per block its 4 arms (uniform, only 0-1 = drop 2-3, only 2-3 = drop 0-1) and one control's 3.
    assert len(design.arms) == 1 + 2 * (3 + 3)
    without = make_design(with_ca, ["ca"], [(0, 1), (2, 3)], [0, 1], 0.1, control=None, mechanism=False)
    assert len(without.arms) == 4 and not without.gaps
