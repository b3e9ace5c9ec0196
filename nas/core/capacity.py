"""Capacity matching: the width of a control block whose slot has the parameters of the slot of a tested block.

Attention adds parameters as well as attention, so "attention helps" needs a control with the same parameters
and no attention (the ``conv`` block, DESIGN.md "Evidence"). Whole slots are compared, as built by
``nas.core.networks.build_slot``: ``a2b`` replaces the slot, every other block sits inside ``AttentionSlot``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

import blocks
from nas.core.networks import build_slot
from nas.errors import InputError

CONTROL_BLOCK = "conv"
WIDTH_OPTION = "inner_channels"
TOLERANCE = 0.10  # a matched control slot is within 10 % of the tested slot's parameters


class CapacityMatchError(InputError):
    """No width of the control block gives a slot with the tested block's parameters."""


def slot_parameters(block: str, channels: int, options: Mapping[str, Any] | None = None) -> int:
    """Parameters of the slot holding ``block`` at ``channels`` with ``options``."""
    slot: nn.Module = build_slot(block, channels, **dict(options or {}))
    return sum(p.numel() for p in slot.parameters())


def matched_inner_channels(
    block: str,
    channels: int,
    options: Mapping[str, Any] | None = None,
    control: str = CONTROL_BLOCK,
) -> int:
    """The ``inner_channels`` of ``control`` whose slot best matches the slot of ``block`` in parameters.

    The control's parameters grow linearly with its width; the width is the one closest to the tested slot,
    at least 1, and the match is checked on the slot actually built with it.

    Args:
        block: The tested block.
        channels: Trunk width C.
        options: The tested block's options (the space's ``block_options`` for it).
        control: The control block; it must take an ``inner_channels`` option.

    Raises:
        CapacityMatchError: the control has no width option, the tested block adds fewer parameters than
            one inner channel of the control costs, or the closest width misses by more than 10 %.
    """
    if WIDTH_OPTION not in blocks.spec(control).default_options():
        raise CapacityMatchError(
            f"control block {control!r} has no {WIDTH_OPTION!r} option to set its width; use {CONTROL_BLOCK!r}"
        )
    target = slot_parameters(block, channels, options)
    one, two = (slot_parameters(control, channels, {WIDTH_OPTION: width}) for width in (1, 2))
    per_channel = two - one
    baseline = one - per_channel  # the slot around a control of width 0
    if target - baseline < per_channel:
        raise CapacityMatchError(
            f"block {block!r} adds {target - baseline:,} parameters to a slot at C={channels}, fewer than one "
            f"inner channel of {control!r} costs ({per_channel:,}); there is no capacity to control for: "
            f"leave {block!r} out of the controlled blocks or drop the control"
        )
    width = max(1, round((target - baseline) / per_channel))
    matched = slot_parameters(control, channels, {WIDTH_OPTION: width})
    if abs(matched - target) > TOLERANCE * target:
        raise CapacityMatchError(
            f"block {block!r} at C={channels}: the closest {control!r} slot ({WIDTH_OPTION}={width}) has "
            f"{matched:,} parameters against {target:,}, more than {TOLERANCE:.0%} apart; use a wider trunk"
        )
    return width
