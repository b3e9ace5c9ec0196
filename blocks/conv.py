"""Capacity control (``conv``): convolution without attention, of a chosen width.

Not from a paper: the control that tells "attention helps" apart from "more parameters help". A k×k conv
C → w (k = ``kernel_size``, 3 or 1), LeakyReLU, a 1×1 conv w → C, added to the input; no gating, nothing computed
from global statistics. The inner width ``inner_channels`` (w, an absolute channel count) sets the parameter count
((k² + 1)·C·w, no biases, as the convolutions of the A2N slot around it), so an experiment can give the control
the parameters that the attention under test adds (see ``nas.core.capacity``); a 1×1 first conv matches in steps
of 2·C where a 3×3 one's steps of 10·C are too coarse for a small block.

Why the residual form: inside ``nas.core.networks.AttentionSlot`` the block sits where an attention module
sits, and an attention module passes its input on, reweighted. ``x + f(x)`` also passes every feature on and
only adds capacity; a plain bottleneck ``f(x)`` would squeeze the slot's features through w channels (4 when
matched to pixel attention at C = 40) and so change what the slot can compute, not just its parameter count.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blocks.a2n import NEGATIVE_SLOPE
from blocks.registry import BlockOptionError, register

DEFAULT_INNER_CHANNELS = 16  # a width for use as an ordinary search choice; experiments set a matched one
KERNEL_SIZES = (3, 1)  # the first conv's kernel: A2N's 3×3 first; 1×1 matches small blocks more finely


@register("conv", paper="capacity control (no attention)")
class CapacityControl(nn.Module):
    """x + 1×1(LReLU(k×k(x))) with an inner width of ``inner_channels``.

    Args:
        channels: Feature channels C.
        inner_channels: Output channels w of the k×k conv (absolute, not a divisor of C).
        kernel_size: k, 3 (the A2N slot's spatial kernel) or 1.
    """

    def __init__(self, channels: int, inner_channels: int = DEFAULT_INNER_CHANNELS, kernel_size: int = 3) -> None:
        super().__init__()
        if isinstance(inner_channels, bool) or not isinstance(inner_channels, int) or inner_channels < 1:
            raise BlockOptionError(f"conv: inner_channels must be a positive integer, got {inner_channels!r}")
        if kernel_size not in KERNEL_SIZES:
            raise BlockOptionError(f"conv: kernel_size must be 3 or 1, got {kernel_size!r}")
        self.expand = nn.Conv2d(channels, inner_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.project = nn.Conv2d(inner_channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.project(F.leaky_relu(self.expand(x), NEGATIVE_SLOPE))
