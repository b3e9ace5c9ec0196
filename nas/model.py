"""The A2N backbone with one block slot per depth, and the released A2N network.

Layout (Chen et al., arXiv 2104.09497; official code haoyuc/A2N): 3×3 conv → depth slots → 3×3 trunk conv +
long skip → upsampler (nearest-neighbour ×s, 3×3 conv, pixel attention, LReLU, 3×3 conv, LReLU; two ×2
stages for ×4) → 3×3 conv → + bilinear-upsampled input. Module names follow the released checkpoint except
the slots, which the checkpoint calls ``AAB_trunk`` (mapped in ``OFFICIAL_KEY_PREFIXES``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

import blocks
from blocks.a2n import NEGATIVE_SLOPE
from blocks.pan import PixelAttention

SUPPORTED_SCALES = (2, 3, 4)
# (checkpoint prefix, harness prefix): the only renamed modules of the released A2N weights.
OFFICIAL_KEY_PREFIXES = (("AAB_trunk.", "slots."),)


class SRNetwork(nn.Module):
    """A2N-style SR network around a sequence of slot modules.

    Args:
        scale: Upscaling factor (2, 3 or 4).
        slots: One module per depth; each maps N×C×H×W to the same shape.
        channels: Trunk width nf.
        upsampler_channels: Upsampler width unf.
        input_range: Pixel range the weights expect: 1 for harness-trained models, 255 for the released A2N
            weights. Inputs and outputs are always [0, 1]; the network rescales inside.
    """

    def __init__(
        self,
        scale: int,
        slots: Sequence[nn.Module],
        channels: int = 40,
        upsampler_channels: int = 24,
        input_range: float = 1.0,
    ) -> None:
        super().__init__()
        if scale not in SUPPORTED_SCALES:
            raise ValueError(f"scale must be one of {SUPPORTED_SCALES}, got {scale}")
        self.scale = scale
        self.input_range = input_range
        self.conv_first = nn.Conv2d(3, channels, 3, padding=1)
        self.slots = nn.ModuleList(slots)
        self.trunk_conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.upconv1 = nn.Conv2d(channels, upsampler_channels, 3, padding=1)
        self.att1 = PixelAttention(upsampler_channels)
        self.HRconv1 = nn.Conv2d(upsampler_channels, upsampler_channels, 3, padding=1)
        if scale == 4:
            self.upconv2 = nn.Conv2d(upsampler_channels, upsampler_channels, 3, padding=1)
            self.att2 = PixelAttention(upsampler_channels)
            self.HRconv2 = nn.Conv2d(upsampler_channels, upsampler_channels, 3, padding=1)
        self.conv_last = nn.Conv2d(upsampler_channels, 3, 3, padding=1)

    def _upsample_stage(self, x: torch.Tensor, factor: int, conv: nn.Module, att: nn.Module, hr: nn.Module):
        x = conv(F.interpolate(x, scale_factor=factor, mode="nearest"))
        x = F.leaky_relu(att(x), NEGATIVE_SLOPE)
        return F.leaky_relu(hr(x), NEGATIVE_SLOPE)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.input_range
        features = self.conv_first(x)
        trunk = features
        for slot in self.slots:
            trunk = slot(trunk)
        features = features + self.trunk_conv(trunk)
        if self.scale == 4:
            features = self._upsample_stage(features, 2, self.upconv1, self.att1, self.HRconv1)
            features = self._upsample_stage(features, 2, self.upconv2, self.att2, self.HRconv2)
        else:
            features = self._upsample_stage(features, self.scale, self.upconv1, self.att1, self.HRconv1)
        out = self.conv_last(features)
        out = out + F.interpolate(x, scale_factor=self.scale, mode="bilinear", align_corners=False)
        return out / self.input_range


def a2n(scale: int, channels: int = 40, upsampler_channels: int = 24, depth: int = 16, input_range: float = 1.0):
    """The A2N network: ``depth`` A2N blocks (1,036,443 parameters at ×2/×3, 1,047,459 at ×4)."""
    slots = [blocks.create("a2b", channels) for _ in range(depth)]
    return SRNetwork(scale, slots, channels, upsampler_channels, input_range)


def from_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames the released A2N checkpoint's keys to the harness's module names."""
    renamed = {}
    for key, tensor in state.items():
        for official, ours in OFFICIAL_KEY_PREFIXES:
            if key.startswith(official):
                key = ours + key[len(official) :]
        renamed[key] = tensor
    return renamed
