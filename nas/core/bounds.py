"""What a space allows and supports: its costliest genotype, blocks its constraints rule out, and warnings.

Counted costs (MACs, params) are a backbone plus one term per slot, the same at every depth, so the costliest
genotype takes the costliest allowed block at each depth, and the cheapest genotype holding a block puts it at
one depth and the cheapest allowed block everywhere else. A block's slot cost is read from a one-slot genotype
(the backbone is shared, so the blocks' order is that of their slots).
"""

from __future__ import annotations

from collections.abc import Callable

from nas.core import counting, genotypes
from nas.core.genotypes import Genotype
from nas.core.objectives import COUNTED_COSTS, OBJECTIVES
from nas.core.spaces import SearchSpace

NOISE_SEEDS = 3  # seeds to suggest: two give a seed-noise interval on one degree of freedom per baseline


def _one_slot(space: SearchSpace, block: str) -> Genotype:
    return Genotype.create(space.scale, space.channels, space.upsampler_channels, [block], dict(space.block_options))


def slot_cost(space: SearchSpace, block: str, cost: str) -> float:
    """The cost (``macs`` or ``params``) of one network of ``space`` with ``block`` in a single slot (counted
    once per genotype: ``counting`` caches it)."""
    return float(getattr(counting.network_cost(_one_slot(space, block)), cost))


def _placement(space: SearchSpace, cost: str, pick: Callable) -> list[str]:
    return [pick(space.choices_at(d), key=lambda b: slot_cost(space, b, cost)) for d in range(space.depth)]


def costliest(space: SearchSpace, cost: str) -> Genotype:
    """The genotype of ``space`` with the largest ``cost`` (``macs`` or ``params``): the costliest choice at every
    depth."""
    return genotypes.from_placement(space, _placement(space, cost, max))


def cheapest_with(space: SearchSpace, block: str, cost: str) -> Genotype | None:
    """The cheapest genotype of ``space`` (in ``cost``) that uses ``block`` somewhere; None when no depth allows it."""
    base = _placement(space, cost, min)
    depths = [d for d in range(space.depth) if block in space.choices_at(d)]
    if not depths:
        return None
    # Replace the depth whose cheapest choice costs most: the others keep the cheapest blocks they allow.
    depth = max(depths, key=lambda d: slot_cost(space, base[d], cost))
    return genotypes.from_placement(space, [block if d == depth else b for d, b in enumerate(base)])


def never_feasible(space: SearchSpace) -> dict[str, str]:
    """Blocks that no genotype of ``space`` can use within its counted-cost constraints, with the reason."""
    reasons = {}
    for cost in COUNTED_COSTS:
        constraint, limit = OBJECTIVES[cost].constraint, OBJECTIVES[cost].limit(space.constraints)
        if limit is None:
            continue
        for block in space.all_blocks():
            cheapest = cheapest_with(space, block, cost)
            value = getattr(counting.network_cost(cheapest), cost) if cheapest is not None else 0
            if value > limit and block not in reasons:
                reasons[block] = f"its cheapest genotype has {cost} {value:.4g} > {constraint} {limit:.4g}"
    return reasons


def one_hot_coefficients(space: SearchSpace) -> int:
    """Coefficients of the report's per-depth one-hot regression: an intercept and every non-baseline choice."""
    return 1 + sum(len(space.choices_at(d)) - 1 for d in range(space.depth))


def support_warnings(space: SearchSpace, trials: int) -> list[str]:
    """What the report of a ``trials``-trial study of ``space`` will be unable to show, one sentence each."""
    found = []
    if len(space.proxy.seeds) < 2:
        found.append(f"proxy.seeds lists one seed: the report will have no seed-noise estimate; list at least "
                     f"{NOISE_SEEDS} seeds so the repeated baselines measure it")  # fmt: skip
    coefficients = one_hot_coefficients(space)
    if coefficients >= trials:
        found.append(f"the exploratory per-depth regression has {coefficients} coefficients but the study runs "
                     f"{trials} trials: it cannot be fitted; run more trials or offer fewer choices")  # fmt: skip
    for block, reason in never_feasible(space).items():
        found.append(f"block {block!r} can never be trained: {reason}; drop it from the choices or raise the limit")
    return found
