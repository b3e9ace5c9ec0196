"""Capacity matching: the capacity control whose parameters equal what a tested block adds to its slot.

Attention adds parameters as well as attention, so "attention helps" needs a control with the same parameters
and no attention (the ``conv`` block, DESIGN.md "Evidence"). What is matched is what each block adds to the slot
of ``none`` (``nas.core.networks.build_slot``: ``a2b`` replaces the slot, every other block sits inside
``AttentionSlot``), since the slot around it is common to every arm; the tolerance applies to that addition.
The control's first conv is 3×3 where a width matches, else 1×1 (finer steps), else there is no control. In place of
a trained parent's block the control is the one registered for it (``plain_a2b`` for ``a2b``, built to match:
``parent_control_match`` checks it), since a ``conv`` slot would drop the trained block's other paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

import blocks
from blocks.conv import KERNEL_SIZES
from nas.core.networks import build_slot
from nas.errors import InputError

CONTROL_BLOCK = "conv"
WIDTH_OPTION = "inner_channels"
KERNEL_OPTION = "kernel_size"
TOLERANCE = 0.10  # a matched control adds within 10 % of the parameters the tested block adds


class CapacityMatchError(InputError):
    """No width of the control block adds the parameters the tested block adds."""


@dataclass(frozen=True)
class CapacityMatch:
    """The control's options, and the parameters the tested block and its control each add to the slot."""

    options: dict[str, int]
    tested_added: int
    control_added: int

    def text(self, block: str, control: str) -> str:
        """``conv(inner_channels=4, kernel_size=3) adds 1,600 parameters where pa adds 1,640 (-2.4 %)``."""
        options = ", ".join(f"{k}={v}" for k, v in self.options.items())
        miss = (self.control_added - self.tested_added) / self.tested_added
        return (
            f"{control}{f'({options})' if options else ''} adds {self.control_added:,} parameters where {block} adds "
            f"{self.tested_added:,} ({miss:+.1%})"
        )


def slot_parameters(block: str, channels: int, options: Mapping[str, Any] | None = None) -> int:
    """Parameters of the slot holding ``block`` at ``channels`` with ``options``."""
    slot: nn.Module = build_slot(block, channels, **dict(options or {}))
    return sum(p.numel() for p in slot.parameters())


def added_parameters(block: str, channels: int, options: Mapping[str, Any] | None = None) -> int:
    """What ``block`` adds to the parameters of the slot of ``none``."""
    return slot_parameters(block, channels, options) - slot_parameters(blocks.NO_ATTENTION, channels)


def matched_control(
    block: str,
    channels: int,
    options: Mapping[str, Any] | None = None,
    control: str = CONTROL_BLOCK,
) -> CapacityMatch:
    """The options of ``control`` that add the parameters ``block`` adds to the slot, within ``TOLERANCE``.

    The control's parameters grow linearly with its width; per kernel size (3 first, then 1) the width closest
    to the target is taken, at least 1, and checked on the slot actually built with it.

    Args:
        block: The tested block.
        channels: Trunk width C.
        options: The tested block's options (the space's ``block_options`` for it).
        control: The control block; it must take ``inner_channels`` and ``kernel_size`` options.

    Raises:
        CapacityMatchError: the control has no width option, or no width and kernel add the tested block's
            parameters within 10 % (the message says what the closest one adds).
    """
    if not {WIDTH_OPTION, KERNEL_OPTION} <= set(blocks.spec(control).default_options()):
        raise CapacityMatchError(
            f"control block {control!r} has no {WIDTH_OPTION!r} and {KERNEL_OPTION!r} options to match it; use "
            f"{CONTROL_BLOCK!r}"
        )
    target = added_parameters(block, channels, options)
    if target <= 0:
        raise CapacityMatchError(f"no capacity control for {block!r} at C={channels}: it adds no parameters")
    closest: CapacityMatch | None = None
    for kernel in KERNEL_SIZES:
        per_channel = added_parameters(control, channels, {WIDTH_OPTION: 1, KERNEL_OPTION: kernel})
        chosen = {WIDTH_OPTION: max(1, round(target / per_channel)), KERNEL_OPTION: kernel}
        match = CapacityMatch(chosen, target, added_parameters(control, channels, chosen))
        if abs(match.control_added - target) <= TOLERANCE * target:
            return match
        if closest is None or abs(match.control_added - target) < abs(closest.control_added - target):
            closest = match
    assert closest is not None
    raise CapacityMatchError(
        f"no capacity control for {block!r} at C={channels}: the closest, {closest.text(block, control)}, misses "
        f"by more than {TOLERANCE:.0%}"
    )


def parent_control_match(block: str, channels: int, options: Mapping[str, Any] | None, control: str) -> CapacityMatch:
    """How ``control``, the capacity control registered for ``block`` in a trained parent, matches what ``block``
    adds to the slot (both take ``block``'s options).

    Raises:
        CapacityMatchError: it misses by more than ``TOLERANCE`` at this width.
    """
    match = CapacityMatch({}, added_parameters(block, channels, options), added_parameters(control, channels, options))
    if abs(match.control_added - match.tested_added) > TOLERANCE * match.tested_added:
        raise CapacityMatchError(
            f"no capacity control for {block!r} at C={channels}: {match.text(block, control)}, more than "
            f"{TOLERANCE:.0%} off"
        )
    return match
