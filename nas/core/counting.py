"""Cost of a genotype: parameters, MACs, all arithmetic ops, and optionally latency.

MACs follow the SR-table convention: multiply-accumulates of convolutions, linear layers, matrix products and
attention (one multiply-add = 1), counted by fvcore with its default handles plus one for
``scaled_dot_product_attention``, for a 1280×720 HR output (A2N ×2: 247.5 G). ``ops`` counts every
arithmetic op: 2 per multiply-add, plus one per output element of elementwise and activation ops, one per
input element of reductions, the window size per output of pooling, and 3 per element of softmax; a
handle is registered for every op that appears in any block, so none is silently skipped.

Counting a full-size network by running it would take seconds per genotype and, for ``pam``, a ~200 GB
attention matrix. The count is composed instead: the backbone without slots, plus each slot, each counted
once per (block, options, width, input size) by fvcore on real tensors and cached. The sum equals fvcore's
count of the whole network (each op belongs to exactly one part; tested at sizes where the whole runs).
Blocks whose memory is quadratic in H·W contain only per-pixel and all-pairs ops, so their count is exactly
a quadratic polynomial in H·W: it is fitted from three small sizes and evaluated at the full size.
"""

from __future__ import annotations

import functools
import math
import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import torch
from fvcore.nn import ActivationCountAnalysis, FlopCountAnalysis
from fvcore.nn.jit_handles import get_shape
from torch import nn

import blocks
from nas.core import networks, spaces
from nas.core.genotypes import Genotype, resolve_runnable
from nas.sr import protocol

# fvcore's default handles count multiply-adds (and its own small counts for norms, upsampling and pooling).
MAC_OPS = {
    "addmm", "bmm", "conv", "einsum", "matmul", "mm", "linear", "batch_norm", "group_norm", "layer_norm",
    "instance_norm", "upsample_nearest2d", "upsample_bilinear2d", "adaptive_avg_pool2d", "grid_sampler",
    "scaled_dot_product_attention",
}  # fmt: skip
ELEMENTWISE_OPS = (
    "add", "add_", "sub", "rsub", "mul", "mul_", "div", "div_", "neg", "exp", "tanh", "sigmoid", "relu", "relu_",
    "leaky_relu", "leaky_relu_", "clamp", "clamp_", "pow", "sqrt", "rsqrt",
)  # fmt: skip
REDUCTION_OPS = ("mean", "sum", "amax", "max", "var", "std")
POOL_OPS = ("max_pool2d", "avg_pool2d")
MOVEMENT_OPS = ("im2col", "repeat_interleave", "view_as", "expand_as", "replication_pad2d", "pad", "roll", "flip")
SOFTMAX_OPS_PER_ELEMENT = 3  # exp, sum, divide
QUADRATIC_FIT_SIDES = (8, 12, 16)
# What ``activations`` counts (RegNet's "activations", as fvcore counts them): a proxy of inference memory traffic.
ACTIVATIONS = "output elements of convolutions, linear layers and matrix products (fvcore's activation count)"
LATENCY_WARMUP = 2
LATENCY_REPEATS = 5


def _numel(value: Any) -> int:
    return math.prod(get_shape(value))


def _elementwise(inputs: list[Any], outputs: list[Any]) -> int:
    return _numel(outputs[0])


def _reduction(inputs: list[Any], outputs: list[Any]) -> int:
    return _numel(inputs[0])


def _softmax(inputs: list[Any], outputs: list[Any]) -> int:
    return SOFTMAX_OPS_PER_ELEMENT * _numel(outputs[0])


def _pool(inputs: list[Any], outputs: list[Any]) -> int:
    kernel = inputs[1].node()  # the kernel size list, built from constants in the traced graph
    sides = [v.toIValue() for v in kernel.inputs()] if kernel.kind() == "prim::ListConstruct" else []
    window = math.prod(sides) if len(sides) == 2 else sides[0] ** 2
    return _numel(outputs[0]) * window


def _free(inputs: list[Any], outputs: list[Any]) -> int:
    return 0


def _attention_macs(inputs: list[Any], outputs: list[Any]) -> int:
    """softmax(QKᵀ)V: Lq·Lk·E multiply-adds for the scores and Lq·Lk·Ev for the weighted values."""
    *batch, queries, embed = get_shape(inputs[0])
    keys = get_shape(inputs[1])[-2]
    value_embed = get_shape(inputs[2])[-1]
    return math.prod(batch) * queries * keys * (embed + value_embed)


def _attention_activations(inputs: list[Any], outputs: list[Any]) -> int:
    """softmax(QKᵀ)V: the Lq·Lk scores and the Lq·Ev weighted values."""
    *batch, queries, _ = get_shape(inputs[0])
    return math.prod(batch) * queries * (get_shape(inputs[1])[-2] + get_shape(inputs[2])[-1])


@dataclass(frozen=True)
class OpCount:
    """MACs (fvcore's default convention) and all arithmetic ops of one forward pass."""

    macs: int
    ops: int

    def __add__(self, other: OpCount) -> OpCount:
        return OpCount(self.macs + other.macs, self.ops + other.ops)


def _fvcore(module: nn.Module, input_shape: tuple[int, ...], handles: dict[str, Any]) -> FlopCountAnalysis:
    """fvcore's analysis of ``module`` on a random input: its default handles, SDPA's and ``handles``."""
    counter = FlopCountAnalysis(module.eval(), (torch.randn(input_shape),))
    counter.set_op_handle(**{"aten::scaled_dot_product_attention": _attention_macs, **handles})
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    counter.tracer_warnings("none")
    return counter


def analysis(module: nn.Module, input_shape: tuple[int, ...]) -> FlopCountAnalysis:
    """fvcore's analysis of ``module`` on a random input, with a handle for every op the blocks use."""
    handles: dict[str, Any] = {"aten::softmax": _softmax}
    handles.update({f"aten::{op}": _elementwise for op in ELEMENTWISE_OPS})
    handles.update({f"aten::{op}": _reduction for op in REDUCTION_OPS})
    handles.update({f"aten::{op}": _pool for op in POOL_OPS})
    handles.update({f"aten::{op}": _free for op in MOVEMENT_OPS})
    return _fvcore(module, input_shape, handles)


@torch.no_grad()
def count(module: nn.Module, input_shape: tuple[int, ...]) -> OpCount:
    """MACs and ops of ``module`` on an input of ``input_shape``, by running fvcore on it."""
    by_operator = analysis(module, input_shape).by_operator()
    macs = sum(n for op, n in by_operator.items() if op in MAC_OPS)
    other = sum(n for op, n in by_operator.items() if op not in MAC_OPS)
    return OpCount(int(macs), int(2 * macs + other))


def fvcore_macs(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """fvcore's own default count, for checking the composed count against it."""
    with torch.no_grad():
        return int(_fvcore(module, input_shape, {}).total())


def _fit_quadratic(samples: list[tuple[int, int]], pixels: int) -> int:
    """Exact value at ``pixels`` of the quadratic through three (pixels, count) samples (Lagrange form)."""
    total = Fraction(0)
    for i, (xi, yi) in enumerate(samples):
        term = Fraction(yi)
        for j, (xj, _) in enumerate(samples):
            if i != j:
                term *= Fraction(pixels - xj, xi - xj)
        total += term
    return int(total)


def _block_measure(
    measure: Callable[[nn.Module, tuple[int, ...]], tuple[int, ...]],
    block: str,
    options: tuple[tuple[str, Any], ...],
    channels: int,
    size: tuple[int, int],
) -> tuple[int, ...]:
    """``measure`` of the registry module ``block`` alone on a channels×H×W feature map (fitted where quadratic)."""
    torch.manual_seed(0)
    module = blocks.create(block, channels, **dict(options))
    if not blocks.spec(block).quadratic:
        return measure(module, (1, channels, *size))
    fits = [(side * side, measure(module, (1, channels, side, side))) for side in QUADRATIC_FIT_SIDES]
    pixels = size[0] * size[1]
    return tuple(_fit_quadratic([(n, values[i]) for n, values in fits], pixels) for i in range(len(fits[0][1])))


def _macs_and_ops(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int, int]:
    counted = count(module, input_shape)
    return counted.macs, counted.ops


@functools.lru_cache(maxsize=4096)
def block_count(block: str, options: tuple[tuple[str, Any], ...], channels: int, size: tuple[int, int]) -> OpCount:
    """Count of the registry module ``block`` alone on a channels×H×W feature map."""
    return OpCount(*_block_measure(_macs_and_ops, block, options, channels, size))


@functools.lru_cache(maxsize=256)
def wrapper_count(channels: int, size: tuple[int, int]) -> OpCount:
    """Count of ``AttentionSlot``'s own convolutions, activations and residual (the attention excluded)."""
    return count(networks.AttentionSlot(channels, nn.Identity()), (1, channels, *size))


def slot_count(block: str, options: tuple[tuple[str, Any], ...], channels: int, size: tuple[int, int]) -> OpCount:
    """Count of the slot holding ``block``: the block itself, plus the wrapper where it sits in one."""
    counted = block_count(block, options, channels, size)
    return counted if networks.is_whole_slot(block) else counted + wrapper_count(channels, size)


@functools.lru_cache(maxsize=256)
def backbone_count(scale: int, channels: int, upsampler_channels: int, size: tuple[int, int]) -> OpCount:
    """Count of everything but the slots, for an LR input of ``size``."""
    return count(networks.SRNetwork(scale, [], channels, upsampler_channels), (1, 3, *size))


def lr_size(hr_size: tuple[int, int], scale: int) -> tuple[int, int]:
    """The LR input size whose output covers ``hr_size`` (rounded down, as SR tables do for ×3)."""
    return hr_size[0] // scale, hr_size[1] // scale


@dataclass(frozen=True)
class Cost:
    params: int
    macs: int
    ops: int
    latency_ms: float | None
    hr_size: tuple[int, int]  # height, width of the HR output

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        record["hr_size"] = list(self.hr_size)
        return record

    def to_text(self, genotype: str, latency_device: str | None) -> str:
        """The cost of ``genotype`` as ``nas cost`` prints it (``latency_device``: where latency was timed)."""
        height, width = self.hr_size
        lines = [
            f"genotype   {genotype}",
            f"params     {self.params:,}",
            f"MACs       {self.macs / 1e9:.2f} G  (multiply-adds for a {width}x{height} HR output)",
            f"ops        {self.ops / 1e9:.2f} G  (all arithmetic ops, 2 per multiply-add)",
        ]
        if self.latency_ms is not None:
            lines.append(f"latency    {self.latency_ms:.1f} ms  (median forward on {latency_device})")
        return "\n".join(lines)


@torch.no_grad()
def latency_ms(network: nn.Module, input_shape: tuple[int, ...], device: str) -> float:
    """Median forward time in milliseconds after warm-up."""
    network = network.eval().to(device)
    x = torch.rand(input_shape, device=device)
    timings = []
    for run in range(LATENCY_WARMUP + LATENCY_REPEATS):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        start = time.perf_counter()
        network(x)
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        if run >= LATENCY_WARMUP:
            timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings)


@torch.no_grad()
def activation_count(module: nn.Module, input_shape: tuple[int, ...]) -> int:
    """fvcore's activation count of ``module``: output elements of its convolutions, linear layers and matrix
    products, attention counted as its two (scores and weighted values) as an unfused implementation makes them."""
    counter = ActivationCountAnalysis(module.eval(), (torch.randn(input_shape),))
    counter.set_op_handle(**{"aten::scaled_dot_product_attention": _attention_activations})
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    counter.tracer_warnings("none")
    return int(counter.total())


def _activations(module: nn.Module, input_shape: tuple[int, ...]) -> tuple[int]:
    return (activation_count(module, input_shape),)


@functools.lru_cache(maxsize=4096)
def _slot_activations(block: str, options: tuple[tuple[str, Any], ...], channels: int, size: tuple[int, int]) -> int:
    (activations,) = _block_measure(_activations, block, options, channels, size)
    if not networks.is_whole_slot(block):
        activations += activation_count(networks.AttentionSlot(channels, nn.Identity()), (1, channels, *size))
    return activations


@functools.lru_cache(maxsize=256)
def _backbone_activations(scale: int, channels: int, upsampler_channels: int, size: tuple[int, int]) -> int:
    return activation_count(networks.SRNetwork(scale, [], channels, upsampler_channels), (1, 3, *size))


@functools.lru_cache(maxsize=1024)
def activations(genotype: Genotype, hr_size: tuple[int, int] = protocol.COST_HR_SIZE) -> int:
    """Activations of ``genotype``'s forward pass for an ``hr_size`` output (``ACTIVATIONS`` says what is counted),
    composed from the backbone and each slot as the MACs are."""
    return _composed(genotype, lr_size(hr_size, genotype.scale), _backbone_activations, _slot_activations)


def _composed(genotype: Genotype, size: tuple[int, int], backbone: Callable[..., Any], slot: Callable[..., Any]) -> Any:
    """``backbone`` of the network without slots plus ``slot`` of each slot, for an LR input of ``size``: each part
    counted once per (block, options, width, size) by the cached functions given."""
    total = backbone(genotype.scale, genotype.channels, genotype.upsampler_channels, size)
    for block in genotype.blocks:
        total = total + slot(block, tuple(sorted(genotype.options_for(block).items())), genotype.channels, size)
    return total


@functools.lru_cache(maxsize=4096)
def _static_cost(genotype: Genotype, hr_size: tuple[int, int]) -> tuple[int, OpCount]:
    total = _composed(genotype, lr_size(hr_size, genotype.scale), backbone_count, slot_count)
    params = sum(p.numel() for p in networks.build(genotype).parameters())
    return params, total


def network_cost(
    genotype: Genotype, hr_size: tuple[int, int] = protocol.COST_HR_SIZE, latency_device: str | None = None
) -> Cost:
    """Params, MACs and ops of ``genotype`` for an ``hr_size`` output; latency when a device is given."""
    # tuple(): a [height, width] list is taken too (and the cache needs a hashable key); mypy types it tuple[int, ...]
    size = cast("tuple[int, int]", tuple(hr_size))
    params, counted = _static_cost(genotype, size)
    latency = None
    if latency_device is not None:
        latency = latency_ms(networks.build(genotype), (1, 3, *lr_size(hr_size, genotype.scale)), latency_device)
    return Cost(params, counted.macs, counted.ops, latency, size)


def unsupported_ops(module: nn.Module, input_shape: tuple[int, ...]) -> Counter[str]:
    """Ops fvcore met in ``module`` that have no handle (must be empty for every block)."""
    with torch.no_grad():
        counter = analysis(module, input_shape)
        counter.total()
        return counter.unsupported_ops()


@dataclass(frozen=True)
class GenotypeCost:
    """What ``nas cost`` prints: a genotype of a space and its cost (latency where it was timed)."""

    genotype: Genotype
    cost: Cost
    latency_device: str | None = None  # the device the latency was timed on (None: not timed)

    def to_text(self) -> str:
        return self.cost.to_text(str(self.genotype), self.latency_device)

    def to_json(self) -> dict[str, Any]:
        return {"genotype": str(self.genotype), **self.cost.to_json()}


def genotype_cost(space_path: str | Path, genotype: str, latency_device: str | None = None) -> GenotypeCost:
    """``nas cost``: the cost of the genotype that the id or alias ``genotype`` names in the space file
    ``space_path`` (at ``protocol.COST_HR_SIZE``), with its latency on ``latency_device`` where one is given.

    Raises:
        SpaceError: the space file is invalid.
        GenotypeError: the genotype is invalid or cannot run under the space.
    """
    arch = resolve_runnable(genotype, spaces.load(space_path), training=False)
    return GenotypeCost(arch, network_cost(arch, latency_device=latency_device), latency_device)
