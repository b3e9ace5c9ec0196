"""Pixel attention (``pa``).

Zhao et al., "Efficient Image Super-Resolution Using Pixel Attention", ECCV Workshops 2020 (PAN); official
code zhaohengyuan1/PAN (``PA``): x · sigmoid(1×1 conv(x)). No departures (1,640 parameters at C = 40). A2N's
upsampler uses the same module; the attribute name ``conv`` matches both released checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.registry import Probe, register


@register("pa", paper="PAN (ECCVW 2020)")
class PixelAttention(nn.Module):
    """x gated per pixel and channel by sigmoid(1×1 conv(x))."""

    attention_map = "gate"

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 1)
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(torch.sigmoid(self.conv(x)))
