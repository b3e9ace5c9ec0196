"""Mechanism control (``fixed_<block>``): an attention block whose gate does not depend on the input.

Not from a paper: the control that tells "attention's data-dependent reweighting helps" apart from "this block's
convolutions help". ``fixed_X`` is block X built as registered, with the probe its gate passes through
(``attention_map``) replaced by a ``ConstantGate``: a learned logit per gate channel, its sigmoid broadcast to the
gate's shape (N×C×H×W, N×1×H×W or N×C×1×1). Every other module of X stays and is trained, and X still computes
its gate, which is then ignored: so ``fixed_X`` has X's parameters (plus one per gate channel) and X's MACs (plus
a broadcast), but no data-dependent reweighting. The modules that only compute the gate therefore get no
gradient and keep their initial values: they count as parameters without being capacity, which the report says
beside every contrast with the mechanism control.

Only the gate the probe names is fixed. For ``a2b`` the attention dropout module (ADM) still weighs the attention
and non-attention branches per image: ``fixed_a2b`` fixes the pixel-attention gate inside the attention branch.

Every registered class that declares ``attention_map`` gets its ``fixed_`` variant here, with the same options,
unless it is a control itself (``fresh_a2b``).
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from blocks.registry import BlockFactory, Probe, attention_map_probe, names, register, spec

PREFIX = "fixed_"
_SAMPLE_SIDE = 16  # the side of the feature map a gate's channel count is read from (at least every min_size)


class ConstantGate(Probe):
    """Stands where a block's gate probe stood: ignores the gate passing it and returns sigmoid(logit) in its shape.

    Starts at 0.5 everywhere (logit 0), the value a sigmoid gate starts near.
    """

    def __init__(self, gate_channels: int) -> None:
        super().__init__()
        self.logit = nn.Parameter(torch.zeros(1, gate_channels, 1, 1))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.logit)

    def forward(self, gate: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logit).to(gate.dtype).expand_as(gate)


def mechanism_control(block: str) -> str:
    """The name of ``block``'s mechanism control (``fixed_<block>``); KeyError where it has none."""
    name = PREFIX + block
    if name not in names():
        raise KeyError(f"block {block!r} has no mechanism control: it declares no single gate (attention_map)")
    return name


def controlled_block(name: str) -> str | None:
    """The block ``name`` is the mechanism control of, or None for any other block."""
    return spec(name).fixed_gate_of


def _gate_channels(module: nn.Module, channels: int) -> int:
    """The channel count of the gate ``module`` computes (1 or C), read from one forward on a small input."""
    probe = attention_map_probe(module)
    assert probe is not None  # only blocks with an attention_map get a variant
    seen: list[int] = []
    handle = probe.register_forward_hook(lambda _module, _inputs, gate: seen.append(gate.shape[1]))
    training = module.training
    with torch.no_grad():
        module.eval()(torch.zeros(1, channels, _SAMPLE_SIDE, _SAMPLE_SIDE))  # eval: no batch-norm statistics move
    module.train(training)
    handle.remove()
    return seen[0]


def _fixed_factory(block: str) -> BlockFactory:
    factory = spec(block).factory

    def build(channels: int, **options: object) -> nn.Module:
        module = factory(channels, **options)
        path: str = getattr(type(module), "attention_map")  # noqa: B009  # declared by the block's class
        module.set_submodule(path, ConstantGate(_gate_channels(module, channels)))
        return module

    build.__doc__ = f"``{block}`` with its gate fixed to a learned constant."
    build.__signature__ = inspect.signature(factory)  # type: ignore[attr-defined]  # the same options as the block
    return build


def register_fixed_variants() -> None:
    """Registers ``fixed_X`` for every registered block X whose class declares ``attention_map`` and that is no
    control itself."""
    for block in names():
        entry = spec(block)
        controls = entry.fixed_gate_of or entry.parent_control_of  # a control has no mechanism control of its own
        if getattr(entry.factory, "attention_map", None) is None or controls or PREFIX + block in names():
            continue
        register(
            PREFIX + block,
            paper=f"mechanism control of {block} (its gate a learned constant)",
            min_size=entry.min_size,
            quadratic=entry.quadratic,
            aliases=dict(entry.aliases),
            implied=entry.implied,
            fixed_gate_of=block,
        )(_fixed_factory(block))
