"""The block registry: one string name per attention module, one constructor contract.

Every registered factory takes ``channels`` first and returns a module whose output has the input's shape
(N×C×H×W in, N×C×H×W out). Options are keyword arguments with defaults that reproduce the official structure.

Attention maps (optional part of the contract): a block that multiplies features by one gate with values in
[0, 1] passes that gate through a ``Probe`` submodule just before using it, and names the probe in the class
attribute ``attention_map`` (a dotted submodule path, e.g. ``"gate"`` or ``"attention.gate"``). The gate is
N×C×H×W (per pixel and channel), N×1×H×W (per pixel) or N×C×1×1 (per channel). ``attention_map_probe(block)``
returns the probe; a forward hook on it reads the map, and a hook that returns a tensor replaces it. Blocks with
no single multiplicative gate (self-attention, shuffle attention, PSA's two summed or chained gates) declare
none. The conformance tests check every declared map's shape, range and use by the forward.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

BlockFactory = Callable[..., nn.Module]


class Probe(nn.Identity):
    """A named point in a block's forward pass: returns its input unchanged and holds no parameters.

    Forward hooks on a probe read the tensor passing it (an attention map) or replace it (an ablation), without
    touching weights, state-dict keys or cost counts.
    """


def attention_map_probe(block: nn.Module) -> Probe | None:
    """The probe that ``block``'s gate passes through (its class attribute ``attention_map``), or None."""
    path = getattr(type(block), "attention_map", None)
    if path is None:
        return None
    probe = block.get_submodule(path)
    if not isinstance(probe, Probe):
        raise TypeError(f"{type(block).__name__}.attention_map names {path!r}, which is not a Probe")
    return probe


class UnknownBlockError(ValueError):
    """Raised for a block name that is not registered; the message lists the valid names."""


class BlockOptionError(ValueError):
    """Raised for options a block does not accept or cannot be built with."""


@dataclass(frozen=True)
class BlockSpec:
    """What the harness knows about a registered block.

    Attributes:
        name: Registry key, used in search spaces and genotype ids.
        factory: Builds the module: ``factory(channels, **options)``.
        paper: Short citation of the source paper.
        min_size: Smallest H and W the official structure accepts; smaller inputs are padded by the module.
        quadratic: Memory grows with (H·W)², as in full spatial self-attention.
    """

    name: str
    factory: BlockFactory
    paper: str
    min_size: int = 1
    quadratic: bool = False

    def default_options(self) -> dict[str, Any]:
        """The factory's options (every parameter after ``channels``) and their defaults."""
        parameters = list(inspect.signature(self.factory).parameters.values())[1:]
        return {p.name: p.default for p in parameters}


_REGISTRY: dict[str, BlockSpec] = {}


def register(name: str, *, paper: str, min_size: int = 1, quadratic: bool = False):
    """Class or function decorator that registers a block factory under ``name``."""

    def decorate(factory: BlockFactory) -> BlockFactory:
        if name in _REGISTRY:
            raise ValueError(f"block {name!r} is registered twice")
        _REGISTRY[name] = BlockSpec(name, factory, paper, min_size, quadratic)
        return factory

    return decorate


def names() -> list[str]:
    """Registered block names, in registration order."""
    return list(_REGISTRY)


def spec(name: str) -> BlockSpec:
    """The registry entry for ``name``.

    Raises:
        UnknownBlockError: ``name`` is not registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBlockError(f"unknown block {name!r}; valid blocks: {', '.join(names())}") from None


def create(name: str, channels: int, **options: Any) -> nn.Module:
    """Builds block ``name`` for ``channels`` feature channels.

    Raises:
        UnknownBlockError: ``name`` is not registered.
        BlockOptionError: an option is unknown, or the block cannot be built with these values.
    """
    entry = spec(name)
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise BlockOptionError(f"block {name!r}: channels must be a positive integer, got {channels!r}")
    allowed = entry.default_options()
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        offered = ", ".join(f"{k}={v!r}" for k, v in allowed.items()) or "no options"
        raise BlockOptionError(f"block {name!r} has no option {', '.join(unknown)}; it takes: {offered}")
    return entry.factory(channels, **options)
