"""Weight inheritance: a candidate starts from a trained parent, keeping every weight that still fits.

The rule, for each module of the child network that holds tensors of its own (parameters and buffers, not its
children's): the parent's tensors are copied when the parent has a module at the same path, of the same class, whose
own tensors have the same names and shapes. Everything else keeps the initial weights the child was built with, drawn
from (seed, module path) (``nas.core.initial_weights``). So the stem, the trunk conv and the upsampler are always
inherited (a space and its parent share scale, width and depth), a slot whose block equals the parent's is inherited
whole, and an ``AttentionSlot`` in place of an ``a2b`` keeps the A2N block's ``conv_first``, ``non_attention`` and
``conv_last`` while its attention is fresh. A block may name submodules a parent never passes on (its class's
``never_inherited``): ``fresh_a2b`` in place of an ``a2b`` keeps all but its attention branch, which stays as a
from-scratch ``a2b`` of the same seed starts it. A mechanism control ``fixed_a2b`` in place of an ``a2b`` inherits
all but its constant gate, which ``start_gates_at_parent_mean`` may set to the parent's gate there averaged per
channel over the training images: so the control starts near the parent's function, where a constant of 0.5 costs the
released A2N 9.8 dB at depths 0-3 before any fine-tuning (bench/fixed_gate_start.py).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from blocks.fixed_gate import ConstantGate
from blocks.registry import Probe


@dataclass(frozen=True)
class Inheritance:
    """What a child took from its parent: parameters inherited, of how many, and the modules left fresh."""

    inherited_parameters: int
    parameters: int
    fresh_modules: tuple[str, ...]  # module paths whose own tensors kept their seeded initial values

    @property
    def share(self) -> float:
        """The share of the child's parameters copied from the parent."""
        return self.inherited_parameters / self.parameters if self.parameters else 0.0


def _own_tensors(module: nn.Module) -> dict[str, torch.Tensor]:
    return {**dict(module.named_parameters(recurse=False)), **dict(module.named_buffers(recurse=False))}


def _fits(child: nn.Module, parent: nn.Module | None) -> bool:
    if parent is None or type(parent) is not type(child):
        return False
    mine, theirs = _own_tensors(child), _own_tensors(parent)
    return mine.keys() == theirs.keys() and all(mine[k].shape == theirs[k].shape for k in mine)


def _never_inherited(network: nn.Module) -> tuple[str, ...]:
    """The module paths under which ``network`` takes nothing from a parent (each block's ``never_inherited``)."""
    return tuple(
        f"{path}.{name}" if path else name
        for path, module in network.named_modules()
        for name in getattr(type(module), "never_inherited", ())
    )


@torch.no_grad()
def inherit(child: nn.Module, parent: nn.Module) -> Inheritance:
    """Copies into ``child`` every module's tensors that ``parent`` has at the same path, class and shapes.

    Both networks must be on the CPU; the parent is left unchanged.
    """
    parents = dict(parent.named_modules())
    inherited = total = 0
    fresh = []
    kept_fresh = _never_inherited(child)
    for path, module in child.named_modules():
        own = _own_tensors(module)
        if not own:
            continue
        counted = sum(t.numel() for name, t in own.items() if name in dict(module.named_parameters(recurse=False)))
        total += counted
        source = None if any(path == p or path.startswith(p + ".") for p in kept_fresh) else parents.get(path)
        if source is not None and _fits(module, source):
            theirs = _own_tensors(source)
            for name, tensor in own.items():
                tensor.copy_(theirs[name])
            inherited += counted
        else:
            fresh.append(path)
    return Inheritance(inherited, total, tuple(fresh))


GATE_FLOOR = 1e-4  # a mean gate is kept within [floor, 1 - floor] so that its logit is finite

# Per parent network (a process keeps its parents), per set of LR images: every gate probe's mean. Training reads
# the same images for every run, and the parent's forward pass over them costs about as much as a few iterations.
_parent_means: weakref.WeakKeyDictionary[nn.Module, dict[int, dict[str, torch.Tensor]]] = weakref.WeakKeyDictionary()


@torch.no_grad()
def gate_means(parent: nn.Module, lr_images: Sequence[np.ndarray]) -> dict[str, torch.Tensor]:
    """Per probe of ``parent`` that passes a map (N×C×H×W; module path), its mean per channel (1×C×1×1) over every
    pixel of every image of ``lr_images`` (H×W×3 uint8, whole images): the mean of each gate."""
    known = _parent_means.setdefault(parent, {})
    key = hash(tuple(image.tobytes() for image in lr_images))
    if key not in known:
        sums: dict[str, torch.Tensor] = {}
        counts: dict[str, int] = {}

        def record(path: str, _module: nn.Module, _inputs: tuple[torch.Tensor, ...], gate: torch.Tensor) -> None:
            if gate.dim() == 4:  # a2b's branch weights pass a probe too, as N×2
                total = gate.double().sum(dim=(0, 2, 3), keepdim=True)
                sums[path] = sums[path] + total if path in sums else total
                counts[path] = counts.get(path, 0) + gate.shape[0] * gate.shape[2] * gate.shape[3]

        probes = [(path, m) for path, m in parent.named_modules() if type(m) is Probe]
        handles = [probe.register_forward_hook(functools.partial(record, path)) for path, probe in probes]
        training = parent.training
        try:
            parent.eval()
            for image in lr_images:
                parent(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0)
        finally:
            parent.train(training)
            for handle in handles:
                handle.remove()
        known[key] = {path: (sums[path] / counts[path]).float() for path in sums}
    return known[key]


@torch.no_grad()
def start_gates_at_parent_mean(child: nn.Module, parent: nn.Module, lr_images: Sequence[np.ndarray]) -> None:
    """Sets every constant gate of ``child`` that stands where ``parent`` has a gate of the same shape to the
    parent's mean gate there (``gate_means``); the rest keep their start."""
    parents = dict(parent.named_modules())
    gates = {
        path: module
        for path, module in child.named_modules()
        if isinstance(module, ConstantGate) and type(parents.get(path)) is Probe
    }
    if not gates:
        return
    means = gate_means(parent, lr_images)
    for path, gate in gates.items():
        mean = means.get(path)
        if mean is not None and mean.shape == gate.logit.shape:
            gate.logit.copy_(torch.logit(mean.clamp(GATE_FLOOR, 1 - GATE_FLOOR)))
