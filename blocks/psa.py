"""Polarized self-attention, parallel (``psa_p``) and sequential (``psa_s``) layouts.

Liu et al., "Polarized Self-Attention: Towards High-quality Pixel-wise Regression", arXiv 2107.00782;
official code DeLightCMU/PSA (``PSA_p``, ``PSA_s``). Both have a channel-only branch (a 1×1 query conv to one
channel, softmax over H·W, pooling a C/2-channel value; a 1×1 conv back to C; sigmoid channel mask) and a
spatial-only branch (global average of a C/2 query, dot product with a C/2 value at every pixel; spatial
mask). ``psa_p`` adds the two gated outputs; ``psa_s`` applies the spatial branch to the channel branch's
output, and its channel branch expands through a bottleneck (C/2 → C/8 → LayerNorm → ReLU → C).

Departures from the official code: none in structure, initialisation or parameters (3,240 for ``psa_p`` and
2,795 for ``psa_s`` at C = 40). Attribute names follow the official code. Note on the official spatial
mask: it is sigmoid(softmax over H·W), so every value is sigmoid(p) with p a probability of order 1/(H·W);
the mask is close to the constant 0.5 for any realistically sized input and the spatial branch acts almost
as x / 2. This is implemented as released because the point of the harness is to measure the published
modules; the effect is stated here so that a weak ``psa_*`` result is not misread.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.registry import BlockOptionError, register


class _PolarizedBase(nn.Module):
    """The two PSA branches; subclasses decide how they are combined and how the channel mask expands."""

    def __init__(self, channels: int, conv_up: nn.Module) -> None:
        super().__init__()
        inner = channels // 2
        if inner < 1:
            raise BlockOptionError(f"polarized self-attention needs at least 2 channels, got {channels}")
        self.conv_q_right = nn.Conv2d(channels, 1, 1, bias=False)
        self.conv_v_right = nn.Conv2d(channels, inner, 1, bias=False)
        self.conv_up = conv_up
        self.conv_q_left = nn.Conv2d(channels, inner, 1, bias=False)
        self.conv_v_left = nn.Conv2d(channels, inner, 1, bias=False)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The official initialisation: Kaiming-normal (fan in) query and value convs; ``conv_up`` keeps torch's
        default. Also what ``nas.core.initial_weights`` calls, after the convs' own resets."""
        for conv in (self.conv_q_right, self.conv_v_right, self.conv_q_left, self.conv_v_left):
            nn.init.kaiming_normal_(conv.weight, mode="fan_in")

    def channel_gated(self, x: torch.Tensor) -> torch.Tensor:
        """Channel-only branch (the official ``spatial_pool``): x times a per-channel mask."""
        value = self.conv_v_right(x).flatten(2)  # N × C/2 × HW
        query = torch.softmax(self.conv_q_right(x).flatten(2), dim=2)  # N × 1 × HW
        context = torch.matmul(value, query.transpose(1, 2)).unsqueeze(-1)  # N × C/2 × 1 × 1
        return x * torch.sigmoid(self.conv_up(context))

    def spatial_gated(self, x: torch.Tensor) -> torch.Tensor:
        """Spatial-only branch (the official ``channel_pool``): x times a per-pixel mask."""
        query = self.conv_q_left(x).mean(dim=(2, 3)).unsqueeze(1)  # N × 1 × C/2
        value = self.conv_v_left(x).flatten(2)  # N × C/2 × HW
        context = torch.softmax(torch.matmul(query, value), dim=2)  # N × 1 × HW
        return x * torch.sigmoid(context.view(x.shape[0], 1, x.shape[2], x.shape[3]))


@register("psa_p", paper="PSA (arXiv 2107.00782)")
class PolarizedSelfAttentionParallel(_PolarizedBase):
    """PSA, parallel layout: channel-gated x + spatially gated x."""

    def __init__(self, channels: int) -> None:
        super().__init__(channels, nn.Conv2d(channels // 2, channels, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.channel_gated(x) + self.spatial_gated(x)


@register("psa_s", paper="PSA (arXiv 2107.00782)", aliases={"ratio": "reduction"})
class PolarizedSelfAttentionSequential(_PolarizedBase):
    """PSA, sequential layout: the spatial branch applied to the channel branch's output.

    Args:
        channels: Feature channels.
        reduction: Divisor of the C/2 value channels that gives the channel mask's bottleneck width (the official
            ``ratio``, 4; that old name is still accepted).
    """

    def __init__(self, channels: int, reduction: int = 4) -> None:
        inner = channels // 2
        bottleneck = inner // reduction
        if bottleneck < 1:
            raise BlockOptionError(
                f"psa_s: reduction={reduction} leaves no bottleneck channels at C={channels} (C/2 // reduction); "
                f"use a reduction from 1 to {max(1, inner)} or channels >= {2 * reduction}"
            )
        conv_up = nn.Sequential(
            nn.Conv2d(inner, bottleneck, 1),
            nn.LayerNorm([bottleneck, 1, 1]),
            nn.ReLU(),
            nn.Conv2d(bottleneck, channels, 1),
        )
        super().__init__(channels, conv_up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial_gated(self.channel_gated(x))
