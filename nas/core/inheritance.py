"""Weight inheritance: a candidate starts from a trained parent, keeping every weight that still fits.

The rule, for each module of the child network that holds tensors of its own (parameters and buffers, not its
children's): the parent's tensors are copied when the parent has a module at the same path, of the same class,
whose own tensors have the same names and shapes. Everything else keeps the initial weights the child was built
with, drawn from (seed, module path) (``nas.core.initial_weights``). So the stem, the trunk conv and the upsampler
are always inherited (a space and its parent share scale, width and depth), a slot whose block equals the parent's
is inherited whole, and an ``AttentionSlot`` in place of an ``a2b`` keeps the A2N block's ``conv_first``,
``non_attention`` and ``conv_last`` while its attention is fresh. A mechanism control ``fixed_a2b`` in place of an
``a2b`` inherits all but its constant gate.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


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


@torch.no_grad()
def inherit(child: nn.Module, parent: nn.Module) -> Inheritance:
    """Copies into ``child`` every module's tensors that ``parent`` has at the same path, class and shapes.

    Both networks must be on the CPU; the parent is left unchanged.
    """
    parents = dict(parent.named_modules())
    inherited = total = 0
    fresh = []
    for path, module in child.named_modules():
        own = _own_tensors(module)
        if not own:
            continue
        counted = sum(t.numel() for name, t in own.items() if name in dict(module.named_parameters(recurse=False)))
        total += counted
        source = parents.get(path)
        if source is not None and _fits(module, source):
            theirs = _own_tensors(source)
            for name, tensor in own.items():
                tensor.copy_(theirs[name])
            inherited += counted
        else:
            fresh.append(path)
    return Inheritance(inherited, total, tuple(fresh))
