"""A2N's attention-in-attention block (``a2b``).

Chen et al., "Attention in Attention Network for Image Super-Resolution", arXiv 2104.09497; official code
haoyuc/A2N (``AAB``). The block is a 1×1 conv and LeakyReLU, then two branches mixed by per-image weights from
an "attention dropout module" (global average pool → MLP → softmax with temperature 30): an attention branch
(3×3 → LReLU → 1×1 → sigmoid gating a 3×3 conv of the input, then a 3×3 conv) and a non-attention branch (one
3×3 conv). The mix goes through LReLU and a 1×1 conv and is added to the block input.

Departures from the official code: none in structure or parameters (62,860 at C = 40). Attribute names follow
the released checkpoint (``conv_first``, ``ADM``, ``attention.k1``…``k4``, ``non_attention``, ``conv_last``) so
its tensors load one to one.

``plain_a2b`` is the capacity control of a trained A2N block: the same block with its attention branch replaced by
a plain convolution branch (3×3 C → w, LeakyReLU, 3×3 w → C; no gate) whose width w gives it the attention
branch's parameters (28C² + C) within a step of 18C, and the attention dropout module still weighing the two
branches. In place of a trained ``a2b`` it inherits everything but that branch (``nas.core.inheritance``), so
"parent − plain_a2b" asks what the trained attention branch does beyond a fresh branch of its size.

``fresh_a2b`` is its freshness control: the A2N block itself, whose attention branch is never inherited
(``never_inherited``): in place of a trained ``a2b`` it keeps all the rest, ADM included, while the branch starts
from the weights a from-scratch ``a2b`` of the same seed draws at that path (``nas.core.initial_weights``). So
"parent − fresh_a2b" is what a fresh attention branch costs, and "fresh_a2b − plain_a2b" compares attention with
plain convolution on equal footing, both branches fresh in the same trained block. From scratch it is ``a2b``.

Probes (``blocks.registry.Probe``, no parameters): ``attention.gate`` carries the attention branch's sigmoid mask
(the block's ``attention_map``, N×C×H×W) and ``branch_weights`` the ADM's per-image weights (N×2: attention,
non-attention). A forward hook on ``branch_weights`` that returns new weights switches the attention branch off
without touching the weights (``nas.trained.ablation``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from blocks.registry import BlockOptionError, Probe, register

NEGATIVE_SLOPE = 0.2


class AttentionBranch(nn.Module):
    """The attention branch of the A2N block: a pixel-attention-gated 3×3 conv followed by a 3×3 conv."""

    def __init__(self, channels: int, kernel_size: int = 3) -> None:
        super().__init__()
        padding = kernel_size // 2
        self.k1 = nn.Conv2d(channels, channels, kernel_size, padding=padding, bias=False)
        self.k2 = nn.Conv2d(channels, channels, 1)
        self.k3 = nn.Conv2d(channels, channels, kernel_size, padding=padding, bias=False)
        self.k4 = nn.Conv2d(channels, channels, kernel_size, padding=padding, bias=False)
        self.gate = Probe()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.gate(torch.sigmoid(self.k2(F.leaky_relu(self.k1(x), NEGATIVE_SLOPE))))
        return self.k4(self.k3(x) * mask)


@register("a2b", paper="A2N (arXiv 2104.09497)")
class AttentionInAttentionBlock(nn.Module):
    """A2N's attention-in-attention block; includes its own residual connection.

    Args:
        channels: Feature channels (nf).
        reduction: Channel reduction of the attention dropout module's MLP.
        temperature: Softmax temperature of the branch weights (30 in the paper).
    """

    attention_map: str | None = "attention.gate"

    def __init__(self, channels: int, reduction: int = 4, temperature: float = 30.0) -> None:
        super().__init__()
        if channels // reduction < 1:
            raise BlockOptionError(f"a2b needs channels >= reduction ({reduction}), got {channels}")
        if not temperature > 0:
            raise BlockOptionError(f"a2b: temperature={temperature} is not allowed; expected a number > 0 (30 in A2N)")
        self.temperature = temperature
        self.conv_first = nn.Conv2d(channels, channels, 1, bias=False)
        self.ADM = nn.Sequential(
            nn.Linear(channels, channels // reduction, bias=False),
            nn.ReLU(),
            nn.Linear(channels // reduction, 2, bias=False),
        )
        self.attention = self._branch(channels)
        self.non_attention = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.conv_last = nn.Conv2d(channels, channels, 1, bias=False)
        self.branch_weights = Probe()

    def _branch(self, channels: int) -> nn.Module:
        """The attention branch; a control of the block builds another in its place."""
        return AttentionBranch(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = F.leaky_relu(self.conv_first(x), NEGATIVE_SLOPE)
        weights = self.branch_weights(torch.softmax(self.ADM(features.mean(dim=(2, 3))) / self.temperature, dim=1))
        attention_weight = weights[:, 0, None, None, None]
        plain_weight = weights[:, 1, None, None, None]
        mixed = self.attention(features) * attention_weight + self.non_attention(features) * plain_weight
        return self.conv_last(F.leaky_relu(mixed, NEGATIVE_SLOPE)) + x


class PlainBranch(nn.Module):
    """The attention branch's place without attention: 3×3 conv C → w, LeakyReLU, 3×3 conv w → C, no biases."""

    def __init__(self, channels: int, inner_channels: int) -> None:
        super().__init__()
        self.expand = nn.Conv2d(channels, inner_channels, 3, padding=1, bias=False)
        self.project = nn.Conv2d(inner_channels, channels, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(F.leaky_relu(self.expand(x), NEGATIVE_SLOPE))


def plain_branch_width(channels: int) -> int:
    """The width w whose plain branch (18·C·w parameters) comes nearest the attention branch's 28C² + C."""
    return max(1, round((28 * channels + 1) / 18))


@register(
    "plain_a2b",
    paper="capacity control of a trained a2b (its attention branch a plain conv branch)",
    parent_control_of=("capacity", "a2b"),
)
class PlainBranchBlock(AttentionInAttentionBlock):
    """A2N's block with its attention branch a ``PlainBranch`` of matched parameters; the same options as ``a2b``."""

    attention_map = None  # no gate: nothing to probe, and no mechanism control of its own

    def _branch(self, channels: int) -> nn.Module:
        return PlainBranch(channels, plain_branch_width(channels))


@register(
    "fresh_a2b",
    paper="freshness control of a trained a2b (its attention branch re-initialised)",
    parent_control_of=("freshness", "a2b"),
)
class FreshBranchBlock(AttentionInAttentionBlock):
    """A2N's block whose attention branch a trained parent never passes on; the same options as ``a2b``."""

    never_inherited = ("attention",)  # submodule paths ``nas.core.inheritance.inherit`` leaves at their seeded start
