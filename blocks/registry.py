"""The block registry: one string name per attention module, one constructor contract.

Every registered factory takes ``channels`` first and returns a module whose output has the input's shape
(N×C×H×W in, N×C×H×W out). Options are keyword arguments with defaults that reproduce the official structure.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

BlockFactory = Callable[..., nn.Module]


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
