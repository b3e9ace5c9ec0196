"""Fully attentional block (``fla``).

Song et al., "Fully Attentional Network for Semantic Segmentation", AAAI 2022 (FLANet); official code
maggiesong7/FullyAttentional (``FullyAttentionalBlock``). Row- and column-pooled encodings (linear layers on
the per-row and per-column channel means) attend over channels at every column and every row; the two
results, weighted by a zero-initialised gamma, are added to x, then a 3×3 conv, a norm and ReLU.

Departures from the official code:

- Batch mixing: the official code pairs each column's features with ``encode_h.repeat(width, 1, 1)``, which
  orders the encodings width-major while the features are batch-major, so with batch > 1 an image's rows are
  matched with another image's encoding. Here each image's encoding is repeated for its own rows and columns
  (``repeat_interleave``); for batch 1 the two agree.
- Norm: the official conv (no bias) is followed by SyncBatchNorm, which makes an image's output depend on its
  batch and is avoided in SR networks. The default is ``norm=None`` with a conv bias (17,721 parameters at
  C = 40); ``norm="batch"`` restores the official layout with BatchNorm2d (17,761).
- The row and column means are reductions instead of kernel-sized average pools, so a traced graph holds for
  any input size.
"""

from __future__ import annotations

import torch
from torch import nn

from blocks.registry import BlockOptionError, register


@register("fla", paper="FLANet (AAAI 2022)")
class FullyAttentionalBlock(nn.Module):
    """FLANet's fully attentional block, with per-image pairing of encodings.

    Args:
        channels: Feature channels.
        norm: None (default, conv with bias) or "batch" (official: conv without bias, then BatchNorm).
    """

    def __init__(self, channels: int, norm: str | None = None) -> None:
        super().__init__()
        if norm not in (None, "batch"):
            raise BlockOptionError(f"fla: norm must be None or 'batch', got {norm!r}")
        self.conv1 = nn.Linear(channels, channels)
        self.conv2 = nn.Linear(channels, channels)
        layers: list[nn.Module] = [nn.Conv2d(channels, channels, 3, padding=1, bias=norm is None)]
        if norm == "batch":
            layers.append(nn.BatchNorm2d(channels))
        layers.append(nn.ReLU())
        self.conv = nn.Sequential(*layers)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        columns = x.permute(0, 3, 1, 2).reshape(n * w, c, h)  # every column: C × H
        rows = x.permute(0, 2, 1, 3).reshape(n * h, c, w)  # every row: C × W
        encode_h = self.conv1(x.mean(dim=3).transpose(1, 2)).repeat_interleave(w, dim=0)  # (N·W) × H × C
        encode_w = self.conv2(x.mean(dim=2).transpose(1, 2)).repeat_interleave(h, dim=0)  # (N·H) × W × C
        relation_h = torch.softmax(torch.bmm(columns, encode_h), dim=-1)  # (N·W) × C × C
        relation_w = torch.softmax(torch.bmm(rows, encode_w), dim=-1)  # (N·H) × C × C
        along_h = torch.bmm(relation_h, columns).view(n, w, c, h).permute(0, 2, 3, 1)
        along_w = torch.bmm(relation_w, rows).view(n, h, c, w).permute(0, 2, 1, 3)
        return self.conv(self.gamma * (along_h + along_w) + x)
