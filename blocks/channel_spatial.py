"""Channel and spatial gates: ``ca`` (RCAN), ``spatial`` and ``cbam`` (CBAM), ``ca_sp`` and ``sp_ca``.

- ``ca``: Zhang et al., "Image Super-Resolution Using Very Deep Residual Channel Attention Networks", ECCV
  2018; official code yulunzhang/RCAN (``CALayer``): global average → 1×1 conv C→C/r → ReLU → 1×1 conv → sigmoid
  → × x. No departures (reduction 16: 202 parameters at C = 40).
- ``spatial``, ``cbam``: Woo et al., "CBAM: Convolutional Block Attention Module", ECCV 2018; official code
  Jongchan/attention-module. The spatial gate is [max, mean] over channels → 7×7 conv → sigmoid → × x; CBAM is
  the channel gate (shared MLP over average- and max-pooled descriptors, summed, sigmoid) then the spatial
  gate. Departure: the official spatial gate is conv (no bias) → BatchNorm. Batch norm makes an image's output
  depend on its batch and is avoided in SR networks, so the default is ``norm=None`` with a conv bias
  (``spatial`` 99 and ``cbam`` 301 parameters at C = 40); ``norm="batch"`` restores the official layout
  (100 and 302). Global pools are written as reductions rather than kernel-sized pooling so that a traced
  graph holds for any input size.
- ``ca_sp`` and ``sp_ca``: the crossed variants of the polarized-attention notes. ``ca_sp`` weighs pixels by a
  spatial map ([mean, max] over channels → 7×7 conv → sigmoid), takes the weighted spatial average of x as the
  channel descriptor and gates x with sigmoid of it (99 parameters at C = 40). ``sp_ca`` weighs channels by SE
  excitation (global average → C→C/r → ReLU → C/r→C → sigmoid), takes the weighted channel average of x as the
  spatial descriptor and gates x with sigmoid of it (202 parameters at C = 40). Departure: the notes multiply
  x by an unnormalised weighted sum, which grows with H·W (or C) and lets the output scale with the input
  size; a mean and a sigmoid gate keep the output within the input's scale.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.registry import BlockOptionError, Probe, register

SPATIAL_KERNEL = 7


def _reduced(channels: int, reduction: int, block: str) -> int:
    if channels // reduction < 1:
        raise BlockOptionError(f"{block}: reduction={reduction} leaves no channels at C={channels}")
    return channels // reduction


def _excitation(channels: int, reduction: int, block: str) -> nn.Sequential:
    """1×1 conv bottleneck used by SE-style gates: C → C/r → ReLU → C."""
    inner = _reduced(channels, reduction, block)
    return nn.Sequential(nn.Conv2d(channels, inner, 1), nn.ReLU(), nn.Conv2d(inner, channels, 1))


def _mean_max_over_channels(x: torch.Tensor) -> torch.Tensor:
    return torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)


@register("ca", paper="RCAN (ECCV 2018)")
class ChannelAttention(nn.Module):
    """RCAN's channel attention (squeeze-excitation).

    Args:
        channels: Feature channels.
        reduction: Bottleneck reduction r of the excitation.
    """

    attention_map = "gate"

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.conv_du = _excitation(channels, reduction, "ca")
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(torch.sigmoid(self.conv_du(x.mean(dim=(2, 3), keepdim=True))))


@register("spatial", paper="CBAM (ECCV 2018)")
class SpatialGate(nn.Module):
    """CBAM's spatial gate: sigmoid(7×7 conv([max, mean] over channels)) × x.

    Args:
        channels: Feature channels (the gate has no per-channel parameters).
        norm: None (default, conv with bias) or "batch" (official: conv without bias, then BatchNorm).
    """

    attention_map = "gate"

    def __init__(self, channels: int, norm: str | None = None) -> None:
        super().__init__()
        if norm not in (None, "batch"):
            raise BlockOptionError(f"spatial: norm must be None or 'batch', got {norm!r}")
        conv = nn.Conv2d(2, 1, SPATIAL_KERNEL, padding=SPATIAL_KERNEL // 2, bias=norm is None)
        layers: list[nn.Module] = [conv]
        if norm == "batch":
            layers.append(nn.BatchNorm2d(1, eps=1e-5, momentum=0.01))
        self.spatial = nn.Sequential(*layers)
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.amax(dim=1, keepdim=True), x.mean(dim=1, keepdim=True)], dim=1)
        return x * self.gate(torch.sigmoid(self.spatial(pooled)))


@register("cbam", paper="CBAM (ECCV 2018)")
class ConvolutionalBlockAttention(nn.Module):
    """CBAM: channel gate (shared MLP on average and max pools), then the spatial gate.

    Args:
        channels: Feature channels.
        reduction: Bottleneck reduction of the shared MLP.
        norm: Normalisation of the spatial gate, as in ``spatial``.
    """

    attention_map = "spatial_gate.gate"  # the spatial gate, as for ``spatial``

    def __init__(self, channels: int, reduction: int = 16, norm: str | None = None) -> None:
        super().__init__()
        inner = _reduced(channels, reduction, "cbam")
        self.mlp = nn.Sequential(nn.Linear(channels, inner), nn.ReLU(), nn.Linear(inner, channels))
        self.spatial_gate = SpatialGate(channels, norm=norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_logits = self.mlp(x.mean(dim=(2, 3))) + self.mlp(x.amax(dim=(2, 3)))
        return self.spatial_gate(x * torch.sigmoid(channel_logits)[:, :, None, None])


@register("ca_sp", paper="polarized-attention notes")
class ChannelFromSpatialAttention(nn.Module):
    """Channel gate whose descriptor is a spatially weighted mean of x.

    Args:
        channels: Feature channels (the spatial weighting has no per-channel parameters).
    """

    attention_map = "gate"

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.spatial = nn.Conv2d(2, 1, SPATIAL_KERNEL, padding=SPATIAL_KERNEL // 2)
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pixel_weights = torch.sigmoid(self.spatial(_mean_max_over_channels(x)))
        descriptor = (x * pixel_weights).mean(dim=(2, 3), keepdim=True)
        return x * self.gate(torch.sigmoid(descriptor))


@register("sp_ca", paper="polarized-attention notes")
class SpatialFromChannelAttention(nn.Module):
    """Spatial gate whose descriptor is a channel-weighted mean of x, the weights from SE excitation.

    Args:
        channels: Feature channels.
        reduction: Bottleneck reduction of the excitation.
    """

    attention_map = "gate"

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.excitation = _excitation(channels, reduction, "sp_ca")
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_weights = torch.sigmoid(self.excitation(x.mean(dim=(2, 3), keepdim=True)))
        descriptor = (x * channel_weights).mean(dim=1, keepdim=True)
        return x * self.gate(torch.sigmoid(descriptor))
