"""Local importance attention (``lia``).

Wang et al., "PlainUSR: Chasing Faster ConvNet for Efficient Super-Resolution", ACCV 2024; official code
icandle/PlainUSR (``LocalAttention``). An importance map is computed at low resolution (1×1 conv C→16,
SoftPool 7×7 stride 3, 3×3 stride-2 conv, 3×3 conv 16→C, sigmoid), resized bilinearly to H×W, and multiplied
with x and with a first-channel gate sigmoid(x[:, :1]).

Departures from the official code, same structure and parameters (8,776 at C = 40):

- SoftPool is computed as a softmax over each unfolded 7×7 window. That equals the official
  avg(exp(x)·x) / avg(exp(x)) exactly, but the official form overflows to inf/NaN once activations pass ~88 in
  float32 (~11 in half precision); the softmax form subtracts each window's maximum and never overflows.
- The official structure needs at least 7×7 inputs (the SoftPool window). Smaller inputs are replicate-padded
  to 7×7 inside the SoftPool; the importance map is still resized to the true H×W.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blocks.common import pad_to_min_size
from blocks.registry import Probe, register

SOFTPOOL_WINDOW = 7
SOFTPOOL_STRIDE = 3


class SoftPool2d(nn.Module):
    """SoftPool (Stergiou et al., ICCV 2021): each window's softmax-weighted mean, without padding."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_to_min_size(x, self.kernel_size)
        n, c, h, w = x.shape
        windows = F.unfold(x, self.kernel_size, stride=self.stride).view(n, c, self.kernel_size**2, -1)
        pooled = (torch.softmax(windows, dim=2) * windows).sum(dim=2)
        out_h = (h - self.kernel_size) // self.stride + 1
        out_w = (w - self.kernel_size) // self.stride + 1
        return pooled.view(n, c, out_h, out_w)


@register("lia", paper="PlainUSR (ACCV 2024)", min_size=SOFTPOOL_WINDOW, aliases={"reduced": "inner_channels"})
class LocalImportanceAttention(nn.Module):
    """PlainUSR's local importance attention.

    Args:
        channels: Feature channels.
        inner_channels: Channels of the low-resolution importance path (16 in the paper). (Old name: ``reduced``,
            still accepted.)
    """

    # The importance map; the first-channel gate sigmoid(x[:, :1]) multiplies in after it.
    attention_map = "gate"

    def __init__(self, channels: int, inner_channels: int = 16) -> None:
        super().__init__()
        # Sequential indices match the official checkpoint keys (body.0, body.2, body.3).
        self.body = nn.Sequential(
            nn.Conv2d(channels, inner_channels, 1),
            SoftPool2d(SOFTPOOL_WINDOW, SOFTPOOL_STRIDE),
            nn.Conv2d(inner_channels, inner_channels, 3, stride=2, padding=1),
            nn.Conv2d(inner_channels, channels, 3, padding=1),
            nn.Sigmoid(),
        )
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        importance = self.gate(F.interpolate(self.body(x), size=x.shape[-2:], mode="bilinear", align_corners=False))
        return x * importance * torch.sigmoid(x[:, :1])
