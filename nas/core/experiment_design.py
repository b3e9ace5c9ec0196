"""A designed attention-placement experiment: which arms to train, each a genotype trained with every seed.

For each block X under test the arms are ``none`` (no attention anywhere, shared by all blocks), ``uniform``
(X at every depth that allows it), and for each depth group g: ``only`` g (X at the depths of g, ``none``
elsewhere) and ``drop`` g (X everywhere except g, A2N's attention-dropout arm). Two controls fill the same arms:
the capacity control (the ``conv`` block, matched to what X adds to a slot's parameters by ``nas.core.capacity``),
so an attention effect can be told apart from a capacity effect, and the mechanism control (``fixed_X``, X with
its gate a learned constant, ``blocks.fixed_gate``), so data-dependent reweighting can be told apart from X's
convolutions. A block no control can be built for (no matching width; no single gate) has no arms of that
control, and the design says why (``ExperimentDesign.gaps``). Depths whose choices exclude X hold ``none``, as
in ``nas.core.genotypes.uniform``; the comparison is always against ``none``, so the arms hold ``none`` even
where a space leaves it out of a depth's choices (an experiment's arms need not be points of the space).

Arms that are the same genotype are trained once: ``none`` is shared, and for instance ``only`` a group that
covers every depth is ``uniform``. ``ExperimentDesign.arm`` finds the arm of any role, shared or not.

In a space whose candidates inherit a trained parent (``proxy.init``), the arms are changes of the parent, each
fine-tuned the same way: the reference (the ``none`` role) is the parent itself; ``only`` g puts X in place of the
parent's blocks at the depths of g; ``drop`` g removes X where the parent has it at g (``none`` there: A2N's
attention dropout, with recovery). There is no ``uniform`` arm, and the controls fill the ``only`` arms (the control
in place of the parent's blocks at g). An arm that equals the parent (X swapped in where the parent has X, or removed
where it has none) is the reference, and its effect is not reported. Where the parent holds X at every depth of the
groups and X has controls registered for a trained X (``blocks.parent_control``), a capacity control asked for is
that one, with the freshness control beside it (``_capacity_controls`` says what other blocks get): for ``a2b``,
``plain_a2b`` (its attention branch a fresh plain conv branch of the same parameters) and ``fresh_a2b`` (its
attention branch fresh), each inheriting the rest of the parent's block. Then ``parent - fixed_a2b`` isolates the
gate's dependence on the input (the constant starts at the parent's mean gate), ``parent - fresh_a2b`` what a fresh
branch costs (freshness), and ``fresh_a2b - plain_a2b`` attention against plain convolution of the same parameters,
both fresh (capacity, on equal footing). A block the parent does not hold starts fresh in its arms anyway, and its
controls are the from-scratch ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import blocks
from nas.core import capacity
from nas.core.genotypes import Genotype, from_placement
from nas.core.settings import DEFAULT_ALPHA, DEFAULT_MIN_GAIN_DB, EFFECT_KINDS
from nas.core.spaces import SearchSpace
from nas.errors import InputError

ARM_KINDS = ("none", *EFFECT_KINDS)
# The controls an arm can hold instead of the tested block; FRESHNESS only in place of a trained parent's block.
CAPACITY, MECHANISM, FRESHNESS = "capacity", "mechanism", "freshness"
CONTROLS = (CAPACITY, MECHANISM, FRESHNESS)
PARENT_LABEL = "parent"  # the reference arm of a design of changes to a trained parent


class ExperimentError(InputError):
    """A design that cannot be built as asked."""


@dataclass(frozen=True)
class Role:
    """What an arm is for: X's ``uniform``, ``only`` g or ``drop`` g arm, or one of its controls'; or ``none``."""

    block: str
    kind: str
    group: int | None = None
    control: str | None = None  # None: the block itself; else one of CONTROLS: that control of it


@dataclass(frozen=True)
class ControlGap:
    """A control the design could not give a tested block, and why."""

    block: str
    control: str  # one of CONTROLS
    reason: str


@dataclass(frozen=True)
class Arm:
    """One genotype of the design, trained with every seed.

    Attributes:
        block: The tested block it belongs to (``none`` for the shared ``none`` arm).
        kind: ``none``, ``uniform``, ``only`` or ``drop``.
        group: Index of the depth group for ``only`` and ``drop``, else None.
        control: The control it holds instead of ``block`` (one of CONTROLS), or None.
        genotype: The canonical genotype id (the results key).
        label: Readable name, e.g. ``a2b only 0-3``, ``conv(a2b) drop 4-7`` or ``fixed_a2b uniform``.
        also: Further roles the same genotype fills (e.g. ``only`` a group covering every depth = ``uniform``).
    """

    block: str
    kind: str
    group: int | None
    control: str | None
    genotype: str
    label: str
    also: tuple[Role, ...] = ()

    @property
    def role(self) -> Role:
        return Role(self.block, self.kind, self.group, self.control)

    def fills(self, role: Role) -> bool:
        return role == self.role or role in self.also


@dataclass(frozen=True)
class ExperimentDesign:
    """The experiment: blocks under test, depth groups, seeds, the margin that matters, controls and arms.

    Attributes:
        blocks: Blocks under test.
        groups: Depth groups, each a tuple of depth indices.
        seeds: Every arm is trained with each of these seeds (runs are paired by seed).
        margin_db: Smallest PSNR effect that matters; ``no effect`` means equivalent within ±margin.
        control: Capacity-control block, or None for no capacity control.
        arms: The distinct genotypes to train (see ``design_arms``).
        alpha: Family-wise error rate of every test and interval.
        mechanism: Whether tested blocks get their mechanism control (those with a single gate).
        matches: Per block with a capacity control, how it matches (``CapacityMatch.text``).
        gaps: The controls asked for that a block could not get, with the reason.
        parent: The genotype id of the trained parent the arms change (``proxy.init``); None: from scratch.
        min_gain_db: The gain over bicubic every arm behind a verdict must reach (``proxy.min_gain_db``).
        budgets: How many budgets every run is read at (``proxy.budgets`` and the run's end): each is a family of
            its own at alpha / budgets.
        trained_kinds: The arm kinds the design trains beside ``none`` (``experiment.kinds``).
    """

    blocks: tuple[str, ...]
    groups: tuple[tuple[int, ...], ...]
    seeds: tuple[int, ...]
    margin_db: float
    control: str | None
    arms: tuple[Arm, ...]
    alpha: float = DEFAULT_ALPHA
    mechanism: bool = False
    matches: tuple[tuple[str, str], ...] = ()
    gaps: tuple[ControlGap, ...] = ()
    parent: str | None = None
    min_gain_db: float = DEFAULT_MIN_GAIN_DB
    budgets: int = 1
    trained_kinds: tuple[str, ...] = EFFECT_KINDS

    def kinds(self, control: str | None) -> tuple[str, ...]:
        """The arm kinds whose effects a block (``control`` None) or one of its controls has."""
        possible: tuple[str, ...]
        if self.parent is None:
            possible = EFFECT_KINDS
        else:
            possible = ("only", "drop") if control is None else ("only",)
        return tuple(kind for kind in possible if kind in self.trained_kinds)

    def arm(self, block: str, kind: str, group: int | None = None, control: str | None = None) -> Arm:
        """The arm filling a role; ``kind="none"`` is the shared ``none`` arm whatever the block."""
        role = Role(blocks.NO_ATTENTION, "none") if kind == "none" else Role(block, kind, group, control)
        for arm in self.arms:
            if arm.fills(role):
                return arm
        raise KeyError(f"the design has no arm for {role}")

    def controls_of(self, block: str) -> tuple[str, ...]:
        """The controls (of CONTROLS) that ``block`` has arms of."""
        return tuple(c for c in CONTROLS if any(a.role.block == block and a.role.control == c for a in self.arms))

    def has_trained_controls(self, block: str) -> bool:
        """Whether ``block``'s controls are those registered for a trained block (``plain_a2b``, ``fresh_a2b``)."""
        return FRESHNESS in self.controls_of(block)

    def group_label(self, group: int) -> str:
        return group_text(self.groups[group])


def group_text(depths: tuple[int, ...]) -> str:
    """``0-3`` for a run of depths, ``5`` for one depth, ``0,2,5`` otherwise."""
    ordered = sorted(depths)
    if len(ordered) > 1 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(str(d) for d in ordered)


def make_design(
    space: SearchSpace,
    tested: tuple[str, ...] | list[str],
    groups: tuple[tuple[int, ...], ...] | list[list[int]],
    seeds: tuple[int, ...] | list[int],
    margin_db: float,
    control: str | None = capacity.CONTROL_BLOCK,
    alpha: float = DEFAULT_ALPHA,
    mechanism: bool = True,
    parent: Genotype | None = None,
    min_gain_db: float = DEFAULT_MIN_GAIN_DB,
    budgets: int = 1,
    kinds: tuple[str, ...] = EFFECT_KINDS,
) -> ExperimentDesign:
    """An ``ExperimentDesign`` for ``space`` with its arms built by ``design_arms`` (as changes of ``parent``, the
    network of the space's ``proxy.init``, where it has one).

    Raises:
        ExperimentError: fewer than two distinct seeds, a margin that is not positive, an alpha outside
            (0, 1), or any error of ``design_arms``.
    """
    seeds = tuple(seeds)
    if len(seeds) < 2 or len(set(seeds)) != len(seeds):
        raise ExperimentError(f"seeds {list(seeds)}: give at least two distinct seeds (the seed noise needs them)")
    if not margin_db > 0:
        raise ExperimentError(f"margin_db {margin_db!r}: give the smallest PSNR effect that matters, in dB (> 0)")
    if not 0 < alpha < 1:
        raise ExperimentError(f"alpha {alpha!r}: give an error rate between 0 and 1, such as 0.05")
    groups = tuple(tuple(int(d) for d in group) for group in groups)
    if (parent is None) != (space.proxy.init is None):
        raise ValueError("a design is built from the parent genotype exactly when the space names proxy.init")
    arms, matches, gaps = design_arms(space, tuple(tested), groups, control, mechanism, parent, kinds)
    return ExperimentDesign(
        tuple(tested), groups, seeds, float(margin_db), control, arms, float(alpha), mechanism, matches, gaps,
        None if parent is None else str(parent), float(min_gain_db), budgets, tuple(kinds),
    )  # fmt: skip


def space_design(space: SearchSpace, parent: Genotype | None = None) -> ExperimentDesign | None:
    """The design of ``space``'s ``experiment:`` section, at its alpha per look; None without a section. A space
    with ``proxy.init`` needs its ``parent`` genotype (``nas.trained.parents.genotype_of``)."""
    settings = space.experiment
    if settings is None:
        return None
    return make_design(
        space,
        settings.blocks,
        settings.groups,
        settings.seeds,
        settings.margin_db,
        settings.control,
        settings.alpha,
        settings.mechanism,
        parent,
        space.proxy.min_gain_db,
        len(analysed_budgets(space)),
        settings.kinds,
    )


def analysed_budgets(space: SearchSpace) -> tuple[int, ...]:
    """The readings a design's effects are read at: every one, but from scratch not 0, where the networks are
    untrained and no verdict could rest on them (with ``proxy.init``, 0 reads the parent's changes before any
    recovery)."""
    return tuple(budget for budget in space.proxy.readings() if budget > 0 or space.proxy.init is not None)


def design_arms(
    space: SearchSpace,
    tested: tuple[str, ...],
    groups: tuple[tuple[int, ...], ...],
    control: str | None,
    mechanism: bool = True,
    parent: Genotype | None = None,
    kinds: tuple[str, ...] = EFFECT_KINDS,
) -> tuple[tuple[Arm, ...], tuple[tuple[str, str], ...], tuple[ControlGap, ...]]:
    """The distinct arms of the design (``none``, then per tested block its arms of ``kinds`` and its controls'
    arms), how each capacity control matches, and the controls that could not be built.

    Capacity-control arms hold ``control`` where the block's arms hold the block, with the options matched to
    what that block adds to a slot; mechanism-control arms hold ``fixed_<block>`` with the block's options. The
    control arms of different blocks are therefore different genotypes. A role whose genotype equals an earlier
    arm's is recorded in that arm's ``also``.

    Raises:
        ExperimentError: no or repeated blocks, ``none`` or a block the space never offers under test,
            empty, overlapping or out-of-range groups, a group where a tested block is never allowed, or a
            control that is a tested block.
    """
    _check_blocks(space, tested, control)
    _check_groups(space, tested, groups)
    base = [blocks.NO_ATTENTION] * space.depth if parent is None else list(parent.blocks)
    reference = _genotype(space, base) if parent is None else str(parent)
    roles: list[tuple[Role, str]] = [(Role(blocks.NO_ATTENTION, "none"), reference)]
    matches: list[tuple[str, str]] = []
    gaps: list[ControlGap] = []
    for block in tested:
        placements = _placements(space, block, groups) if parent is None else _changes(space, base, block, groups)
        placements = [(role, placement) for role, placement in placements if role.kind in kinds]
        roles += [(role, _genotype(space, placement)) for role, placement in placements]
        controls, block_matches, block_gaps = _capacity_controls(space, block, groups, control, parent)
        matches += block_matches
        gaps += block_gaps
        if mechanism:
            try:
                fixed = blocks.mechanism_control(block)
            except KeyError as gateless:
                gaps.append(ControlGap(block, MECHANISM, str(gateless.args[0])))
            else:
                controls.append((MECHANISM, fixed, _with_options(space, fixed, space.options_for(block))))
        for kind, name, controlled in controls:
            if parent is None:
                swapped = [(role, _swap(placement, block, name)) for role, placement in placements]
            else:  # the control in place of the parent's blocks at g, as X is in the ``only`` arms
                swapped = [(role, placement) for role, placement in _changes(space, base, name, groups, block)]
                swapped = [(role, placement) for role, placement in swapped if role.kind == "only" and "only" in kinds]
            roles += [
                (dataclasses.replace(role, control=kind), _genotype(controlled, placement))
                for role, placement in swapped
            ]
    arms = _deduplicated(roles, groups, control)
    if parent is not None:  # the reference arm is the parent itself, not a network without attention
        arms = (dataclasses.replace(arms[0], label=PARENT_LABEL), *arms[1:])
    return arms, tuple(matches), tuple(gaps)


def _capacity_controls(
    space: SearchSpace,
    block: str,
    groups: tuple[tuple[int, ...], ...],
    control: str | None,
    parent: Genotype | None,
) -> tuple[list[tuple[str, str, SearchSpace]], list[tuple[str, str]], list[ControlGap]]:
    """The capacity control of ``block`` (and, in place of a parent's trained block, its freshness control) as
    (CAPACITY or FRESHNESS, block name, the space with its options), how it matches, and the gaps.

    A block the parent holds at every depth of the groups gets its registered controls; one it holds at some gets
    none (a registered control would equal the block where the parent does not hold it); one the parent holds
    without registered controls gets none either (``conv`` would start fresh where the block starts trained, so it
    would measure freshness as well as capacity). Any other block gets ``control`` matched to its parameters.
    """
    if control is None:
        return [], [], []
    held = (
        [] if parent is None else [parent.blocks[d] == block for g in groups for d in g if block in space.choices_at(d)]
    )
    if any(held):
        trained, fresh = blocks.parent_control(block, CAPACITY), blocks.parent_control(block, FRESHNESS)
        reason = None
        if not all(held):
            reason = (
                f"the parent holds {block!r} at some depths of the groups only: group the depths where it holds it "
                "apart from the others"
            )
        elif trained is None or fresh is None:
            reason = (
                f"no capacity and freshness controls are registered for a trained {block!r} (blocks.parent_control); "
                f"{control!r} would start fresh where {block!r} starts trained"
            )
        if reason is not None:
            return [], [], [ControlGap(block, CAPACITY, reason), ControlGap(block, FRESHNESS, reason)]
        assert trained is not None and fresh is not None  # else a reason above
        options = space.options_for(block)
        try:
            match = capacity.parent_control_match(block, space.channels, options, trained)
        except capacity.CapacityMatchError as unmatched:
            return [], [], [ControlGap(block, CAPACITY, str(unmatched)), ControlGap(block, FRESHNESS, str(unmatched))]
        controls = [
            (CAPACITY, trained, _with_options(space, trained, options)),
            (FRESHNESS, fresh, _with_options(space, fresh, options)),
        ]
        return controls, [(block, match.text(block, trained))], []
    try:
        match = capacity.matched_control(block, space.channels, space.options_for(block), control)
    except capacity.CapacityMatchError as unmatched:
        return [], [], [ControlGap(block, CAPACITY, str(unmatched))]
    return (
        [(CAPACITY, control, _with_options(space, control, match.options))],
        [(block, match.text(block, control))],
        [],
    )


def _check_blocks(space: SearchSpace, tested: tuple[str, ...], control: str | None) -> None:
    if not tested or len(set(tested)) != len(tested):
        raise ExperimentError(f"blocks {list(tested)}: list each block under test once, at least one")
    offered = space.all_blocks()
    for block in tested:
        blocks.spec(block)  # raises UnknownBlockError listing the valid names
        if block == blocks.NO_ATTENTION:
            raise ExperimentError("block 'none' is the reference of every effect; list attention blocks to test")
        if block not in offered:
            raise ExperimentError(
                f"block {block!r} is not a choice of space {space.name!r}; its blocks: {', '.join(offered)}"
            )
    if control is not None:
        blocks.spec(control)
        if control == blocks.NO_ATTENTION or control in tested:
            raise ExperimentError(
                f"control {control!r} must differ from 'none' and the blocks under test; use "
                f"{capacity.CONTROL_BLOCK!r} or no control"
            )


def _check_groups(space: SearchSpace, tested: tuple[str, ...], groups: tuple[tuple[int, ...], ...]) -> None:
    if not groups:
        raise ExperimentError("groups: give at least one depth group, such as [[0, 1], [2, 3]]")
    seen: set[int] = set()
    for index, group in enumerate(groups):
        if not group or any(not 0 <= d < space.depth for d in group):
            raise ExperimentError(
                f"groups[{index}] {list(group)}: give a non-empty list of depths from 0 to {space.depth - 1}"
            )
        if seen & set(group) or len(set(group)) != len(group):
            raise ExperimentError(f"groups[{index}] {list(group)}: groups must not overlap or repeat a depth")
        seen |= set(group)
        for block in tested:
            if not any(block in space.choices_at(d) for d in group):
                raise ExperimentError(
                    f"groups[{index}] {list(group)}: block {block!r} is not a choice at any of these depths, "
                    "so its arms there equal 'none' and 'uniform'; drop the group or the block"
                )


def _placements(space: SearchSpace, block: str, groups: tuple[tuple[int, ...], ...]) -> list[tuple[Role, list[str]]]:
    """The block's roles with their placements: ``uniform``, then ``only`` and ``drop`` for every group."""
    every = set(range(space.depth))
    result = [(Role(block, "uniform"), _placement(space, block, every))]
    result += [(Role(block, "only", g), _placement(space, block, set(depths))) for g, depths in enumerate(groups)]
    result += [
        (Role(block, "drop", g), _placement(space, block, every - set(depths))) for g, depths in enumerate(groups)
    ]
    return result


def _changes(
    space: SearchSpace,
    parent: list[str],
    block: str,
    groups: tuple[tuple[int, ...], ...],
    role_block: str | None = None,
) -> list[tuple[Role, list[str]]]:
    """A parent's changes, for ``role_block`` (default ``block``): ``only`` g puts ``block`` in place of the
    parent's blocks at g (where the depth offers the tested block), ``drop`` g puts ``none`` where the parent has
    ``block`` at g."""
    tested = role_block or block
    result = []
    for g, depths in enumerate(groups):
        swapped = [block if d in depths and tested in space.choices_at(d) else b for d, b in enumerate(parent)]
        result.append((Role(tested, "only", g), swapped))
    for g, depths in enumerate(groups):
        removed = [blocks.NO_ATTENTION if d in depths and b == block else b for d, b in enumerate(parent)]
        result.append((Role(tested, "drop", g), removed))
    return result


def _placement(space: SearchSpace, block: str, depths: set[int]) -> list[str]:
    return [block if d in depths and block in space.choices_at(d) else blocks.NO_ATTENTION for d in range(space.depth)]


def _swap(placement: list[str], block: str, control: str) -> list[str]:
    return [control if b == block else b for b in placement]


def _with_options(space: SearchSpace, block: str, options: dict[str, Any]) -> SearchSpace:
    """``space`` with ``block``'s options set to ``options`` (genotype options are per block name)."""
    return dataclasses.replace(space, block_options={**space.block_options, block: {**options}})


def _genotype(space: SearchSpace, placement: list[str]) -> str:
    return str(from_placement(space, placement))


def control_name(block: str, control: str | None, capacity_block: str | None, trained: bool = False) -> str:
    """How arms and effects name ``block`` or its control: ``pa``, ``conv(pa)``, ``fixed_pa``, and where the block's
    controls are those registered for a ``trained`` block (in place of a parent's): ``plain_a2b``, ``fresh_a2b``."""
    if trained and control in (CAPACITY, FRESHNESS) and (registered := blocks.parent_control(block, control)):
        return registered
    if control == CAPACITY:
        return f"{capacity_block}({block})"
    return blocks.mechanism_control(block) if control == MECHANISM else block


def role_label(role: Role, groups: tuple[tuple[int, ...], ...], control: str | None, trained: bool = False) -> str:
    """``none``, ``a2b uniform``, ``a2b only 0-3``, ``conv(a2b) drop 4-7``, ``fixed_a2b uniform``; with the controls
    of a ``trained`` block, ``plain_a2b only 0-3``."""
    if role.kind == "none":
        return blocks.NO_ATTENTION
    name = control_name(role.block, role.control, control, trained)
    return f"{name} {role.kind}" + ("" if role.group is None else f" {group_text(groups[role.group])}")


def _deduplicated(
    roles: list[tuple[Role, str]], groups: tuple[tuple[int, ...], ...], control: str | None
) -> tuple[Arm, ...]:
    trained = {role.block for role, _ in roles if role.control == FRESHNESS}  # blocks with a trained block's controls
    arms: dict[str, Arm] = {}
    for role, genotype in roles:
        if genotype in arms:
            arms[genotype] = dataclasses.replace(arms[genotype], also=(*arms[genotype].also, role))
        else:
            label = role_label(role, groups, control, role.block in trained)
            arms[genotype] = Arm(role.block, role.kind, role.group, role.control, genotype, label)
    return tuple(arms.values())
