"""DANet's position (``pam``) and channel (``cam``) attention modules.

Fu et al., "Dual Attention Network for Scene Segmentation", CVPR 2019; official code junfu1115/DANet
(``PAM_Module``, ``CAM_Module``). Both end in ``gamma · attention(x) + x`` with gamma initialised to 0, so a new
module starts as the identity.

- ``pam``: 1×1 query and key convs to C/8, value conv to C; every pixel attends to every pixel (softmax of
  query·key, no scaling). 2,051 parameters at C = 40. Memory is quadratic in H·W.
- ``cam``: channel-to-channel affinities from x itself (no convs); the official subtracts each row's energy
  from its maximum before the softmax. One parameter (gamma).

Departures from the official code: none in structure or parameters. ``pam`` computes softmax(QKᵀ)V with
``scaled_dot_product_attention`` at scale 1, which is the official formula (checked against it in the
tests) but lets PyTorch use a memory-efficient kernel instead of materialising the HW×HW matrix.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blocks.registry import BlockOptionError, register


@register("pam", paper="DANet (CVPR 2019)", quadratic=True)
class PositionAttention(nn.Module):
    """DANet's position attention: full spatial self-attention with a zero-initialised residual weight.

    Args:
        channels: Feature channels.
        reduction: Query/key width is channels // reduction (8 in DANet).
    """

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        inner = channels // reduction
        if inner < 1:
            raise BlockOptionError(f"pam needs channels >= reduction ({reduction}), got {channels}")
        self.query_conv = nn.Conv2d(channels, inner, 1)
        self.key_conv = nn.Conv2d(channels, inner, 1)
        self.value_conv = nn.Conv2d(channels, channels, 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Pixels as tokens: N × 1 × HW × channels, one attention head.
        query = self.query_conv(x).flatten(2).transpose(1, 2).unsqueeze(1)
        key = self.key_conv(x).flatten(2).transpose(1, 2).unsqueeze(1)
        value = self.value_conv(x).flatten(2).transpose(1, 2).unsqueeze(1)
        attended = F.scaled_dot_product_attention(query, key, value, scale=1.0)
        return self.gamma * attended.squeeze(1).transpose(1, 2).reshape(x.shape) + x


@register("cam", paper="DANet (CVPR 2019)")
class ChannelAffinityAttention(nn.Module):
    """DANet's channel attention: channel-to-channel affinities, zero-initialised residual weight."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        flat = x.flatten(2)  # N × C × HW
        energy = torch.bmm(flat, flat.transpose(1, 2))
        attention = torch.softmax(energy.amax(dim=-1, keepdim=True) - energy, dim=-1)
        return self.gamma * torch.bmm(attention, flat).view_as(x) + x
