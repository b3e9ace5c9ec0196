"""Blocks that fail while training, for the search's fault-handling tests (imported via a space's ``plugins``).

Each behaves as the identity in evaluation mode, so cost counting works and the fault happens in training.
"""

from __future__ import annotations

import os

import torch
from torch import nn

import blocks


@blocks.register("explode", paper="test block: raises while training")
class Explode(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            raise RuntimeError("explode block failed on purpose")
        return x


@blocks.register("nan_out", paper="test block: makes the loss NaN while training")
class NanOut(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + float("nan") if self.training else x


@blocks.register("die", paper="test block: kills its worker process while training")
class Die(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            os._exit(17)
        return x
