"""The A2N backbone with one block slot per depth, the slot builder, and the released A2N network.

Layout (Chen et al., arXiv 2104.09497; official code haoyuc/A2N): 3×3 conv → depth slots → 3×3 trunk conv +
long skip → upsampler (nearest-neighbour ×s, 3×3 conv, pixel attention, LReLU, 3×3 conv, LReLU; two ×2
stages for ×4) → 3×3 conv → + bilinear-upsampled input. Module names follow the released checkpoint except
the slots, which the checkpoint calls ``AAB_trunk`` (mapped in ``OFFICIAL_KEY_PREFIXES``).

A slot holding ``a2b`` is the A2N block. Any other choice is the A2N block's non-attention path (1×1 → LReLU →
3×3 → LReLU → 1×1, + residual, no biases as in A2N) with the chosen attention applied after the 3×3 conv;
``none`` leaves the attention out. So the search compares attention modules inside one fixed convolutional
block, and ``a2b`` against that block.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

import blocks
from blocks.a2n import NEGATIVE_SLOPE
from blocks.pan import PixelAttention
from nas.sr.protocol import SUPPORTED_SCALES

if TYPE_CHECKING:
    from nas.core.genotypes import Genotype

# (checkpoint prefix, harness prefix): the only renamed modules of the released A2N weights.
OFFICIAL_KEY_PREFIXES = (("AAB_trunk.", "slots."),)


class AttentionSlot(nn.Module):
    """A2N's non-attention path with an attention module after its 3×3 conv, and a residual connection."""

    def __init__(self, channels: int, attention: nn.Module) -> None:
        super().__init__()
        self.conv_first = nn.Conv2d(channels, channels, 1, bias=False)
        self.non_attention = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.attention = attention
        self.conv_last = nn.Conv2d(channels, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.non_attention(F.leaky_relu(self.conv_first(x), NEGATIVE_SLOPE))
        return self.conv_last(F.leaky_relu(self.attention(features), NEGATIVE_SLOPE)) + x


# Blocks that are a whole slot themselves rather than an attention inside ``AttentionSlot``.
WHOLE_SLOT_BLOCKS = frozenset({"a2b"})


def is_whole_slot(block: str) -> bool:
    """Whether ``block`` is a slot itself: ``a2b`` and its controls (``fixed_a2b``, ``plain_a2b``, ``fresh_a2b``)."""
    parent_control = blocks.spec(block).parent_control_of
    stands_for = blocks.controlled_block(block) or (parent_control[1] if parent_control else block)
    return stands_for in WHOLE_SLOT_BLOCKS


def build_slot(block: str, channels: int, **options) -> nn.Module:
    """The module of one depth: the A2N block for ``a2b`` (and its controls), else an
    ``AttentionSlot`` around ``block``."""
    if is_whole_slot(block):
        return blocks.create(block, channels, **options)
    return AttentionSlot(channels, blocks.create(block, channels, **options))


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

    def _upsample_stage(
        self, x: torch.Tensor, factor: int, conv: nn.Module, att: nn.Module, hr: nn.Module
    ) -> torch.Tensor:
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


def build(genotype: Genotype, input_range: float = 1.0) -> SRNetwork:
    """The network of a genotype, freshly initialised (seed torch beforehand for reproducible weights)."""
    slots = [build_slot(b, genotype.channels, **genotype.options_for(b)) for b in genotype.blocks]
    return SRNetwork(genotype.scale, slots, genotype.channels, genotype.upsampler_channels, input_range)


def from_official_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Renames the released A2N checkpoint's keys to the harness's module names."""
    renamed = {}
    for key, tensor in state.items():
        for official, ours in OFFICIAL_KEY_PREFIXES:
            if key.startswith(official):
                key = ours + key[len(official) :]
        renamed[key] = tensor
    return renamed
