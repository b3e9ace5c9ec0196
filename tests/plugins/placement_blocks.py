"""Blocks with a known effect on PSNR, for the confirmation tests (imported via a space's ``plugins``).

``noisy`` adds strong Gaussian noise to the features when the network is evaluated (it is the identity in
training): every placement of it costs PSNR, so a placement with fewer of them is truly better. ``clean`` passes
the features through unchanged. Both hold the same frozen, zeroed 3×3 convolution, so networks that differ only in
where they hold which draw identical initial weights for a seed and train to identical weights: a paired comparison
sees the noise alone, whatever the (chaotic) tiny training does. ``noisy`` skips the convolution, so it costs fewer
multiply-adds. ``same`` is the identity under another name than ``none``: a network holding it is
the same network, trained to the same PSNR for a seed.
"""

from __future__ import annotations

import torch
from torch import nn

import blocks

NOISE_STD = 20.0  # large enough that the noise, not the chaotic tiny training, sets the difference


class _ZeroConv(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        nn.init.zeros_(self.conv.weight)
        self.conv.weight.requires_grad_(False)  # stays zero: adding its output changes nothing


@blocks.register("noisy", paper="test block: adds Gaussian noise to the features")
class Noisy(_ZeroConv):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.training else x + NOISE_STD * torch.randn_like(x)


@blocks.register("clean", paper="test block: counted convolution, identity output")
class Clean(_ZeroConv):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


blocks.register("same", paper="test block: the identity under another name")(lambda channels: nn.Identity())
