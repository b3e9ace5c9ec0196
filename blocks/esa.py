"""Enhanced spatial attention (``esa``).

Liu et al., "Residual Feature Distillation Network for Lightweight Image Super-Resolution", ECCV Workshops
2020 (RFDN); official code njulj/RFDN (``ESA``), itself from RFANet (CVPR 2020). A 1×1 conv reduces C to f, a
stride-2 valid 3×3 conv and a 7×7 stride-3 max pool shrink the map, three 3×3 convs process it, it is resized
bilinearly to H×W, added to a 1×1 conv of the reduced features, expanded to C by a 1×1 conv and used as a
sigmoid gate on x.

Departures from the official code, same structure and parameters (4,600 at C = 40, f = C/4): the official
structure needs at least 15×15 inputs (stride-2 valid conv, then the 7×7 pool); smaller inputs are
replicate-padded to 15×15 after the first 1×1 conv, and the gate is still resized to the true H×W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blocks.common import pad_to_min_size
from blocks.registry import Probe, register

MIN_SIZE = 15  # 3×3 stride-2 valid conv → 7×7 max pool needs (H - 3) // 2 + 1 >= 7


def default_inner_channels(channels: int) -> int:
    """RFDN's attention-path width: channels // 4."""
    return max(1, channels // 4)


@register(
    "esa",
    paper="RFDN (ECCVW 2020)",
    min_size=MIN_SIZE,
    aliases={"reduced": "inner_channels"},
    implied=lambda channels: {"inner_channels": default_inner_channels(channels)},
)
class EnhancedSpatialAttention(nn.Module):
    """RFDN's enhanced spatial attention.

    Args:
        channels: Feature channels.
        inner_channels: Channels f of the attention path; None means channels // 4, as in RFDN. (Old name:
            ``reduced``, still accepted.)
    """

    attention_map = "gate"

    def __init__(self, channels: int, inner_channels: int | None = None) -> None:
        super().__init__()
        f = inner_channels if inner_channels is not None else default_inner_channels(channels)
        # Attribute names match the official checkpoint keys.
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reduced = self.conv1(x)
        pooled = F.max_pool2d(self.conv2(pad_to_min_size(reduced, MIN_SIZE)), kernel_size=7, stride=3)
        context = F.relu(self.conv3(F.relu(self.conv_max(pooled))))
        context = F.interpolate(self.conv3_(context), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return x * self.gate(torch.sigmoid(self.conv4(context + self.conv_f(reduced))))
