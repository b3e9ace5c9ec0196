"""Shuffle attention (``shuffle``).

Zhang and Yang, "SA-Net: Shuffle Attention for Deep Convolutional Neural Networks", ICASSP 2021; official
code wofmanaf/SA-Net (``sa_layer``). Channels are split into G groups, each group into two halves: one half is
gated by a channel statistic (global average, per-channel scale and shift, sigmoid), the other by a spatial
statistic (GroupNorm with one group per channel, scale and shift, sigmoid); the halves are concatenated and
the channels shuffled across the two halves.

Departures from the official code: the official default of 64 groups needs C divisible by 128, which no
lightweight SR width is. ``groups=None`` picks the largest G <= 64 with C divisible by 2·G (G = 20 at C = 40,
6 parameters); an explicit ``groups`` that does not divide is rejected with the valid values. Structure,
initialisation (scales 0, shifts 1) and parameter layout otherwise follow the official code.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.registry import BlockOptionError, register

OFFICIAL_GROUPS = 64


def valid_groups(channels: int) -> list[int]:
    """Group counts G for which shuffle attention can be built at ``channels`` (C divisible by 2·G)."""
    return [g for g in range(1, channels // 2 + 1) if channels % (2 * g) == 0]


def default_groups(channels: int) -> int | None:
    """The largest valid group count up to the official 64, or None where no count fits (odd ``channels``)."""
    allowed = [g for g in valid_groups(channels) if g <= OFFICIAL_GROUPS]
    return max(allowed) if allowed else None


@register("shuffle", paper="SA-Net (ICASSP 2021)", implied=lambda channels: {"groups": default_groups(channels)})
class ShuffleAttention(nn.Module):
    """SA-Net's shuffle attention.

    Args:
        channels: Feature channels.
        groups: Number of groups G; None picks the largest valid G up to the official 64.
    """

    def __init__(self, channels: int, groups: int | None = None) -> None:
        super().__init__()
        allowed = valid_groups(channels)
        if not allowed:
            raise BlockOptionError(f"shuffle needs an even number of channels, got {channels}")
        if groups is None:
            groups = default_groups(channels)
            assert groups is not None  # allowed is not empty, so G = 1 fits (1 <= OFFICIAL_GROUPS)
        elif groups not in allowed:
            raise BlockOptionError(
                f"shuffle: groups={groups} does not fit {channels} channels (C must divide by 2·groups); "
                f"valid groups: {allowed}"
            )
        self.groups = groups
        half = channels // (2 * groups)
        self.cweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.cbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.sweight = nn.Parameter(torch.zeros(1, half, 1, 1))
        self.sbias = nn.Parameter(torch.ones(1, half, 1, 1))
        self.gn = nn.GroupNorm(half, half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        grouped = x.reshape(n * self.groups, -1, h, w)
        channel_half, spatial_half = grouped.chunk(2, dim=1)
        channel_stat = self.cweight * channel_half.mean(dim=(2, 3), keepdim=True) + self.cbias
        spatial_stat = self.sweight * self.gn(spatial_half) + self.sbias
        gated = torch.cat(
            [channel_half * torch.sigmoid(channel_stat), spatial_half * torch.sigmoid(spatial_stat)], dim=1
        ).reshape(n, c, h, w)
        # Channel shuffle with two groups mixes the channel-gated and spatially gated halves.
        return gated.reshape(n, 2, c // 2, h, w).transpose(1, 2).reshape(n, c, h, w)
