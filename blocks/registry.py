"""The block registry: one string name per attention module, one constructor contract.

Every registered factory takes ``channels`` first and returns a module whose output has the input's shape
(N×C×H×W in, N×C×H×W out). Options are keyword arguments with defaults that reproduce the official structure.

Options speak one vocabulary (as timm separates ``rd_ratio`` from ``rd_channels``): ``reduction`` is always a
divisor of a channel count (the inner width is channels // reduction) and ``inner_channels`` an absolute inner
channel count. Old option names stay accepted as aliases declared with ``register(..., aliases=...)`` and are
resolved here, in ``canonical_options``, the one place every option passes through: a space file, a genotype id
and ``create`` all get the canonical names and values.

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
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from torch import nn

BlockFactory = Callable[..., nn.Module]

# The widest feature map a block is built for (a space's channels go up to this): bounds every channel count and
# keeps a typo such as --channels 100000 from allocating tens of gigabytes.
MAX_CHANNELS = 256
# The characters a block's name may hold: those a genotype id's grammar reads as a block name (``x2.c16.u4:pa*2``;
# ``nas.core.genotypes`` parses with this pattern). A name with others could be registered but never named in an id.
NAME_PATTERN = "[a-z0-9_]+"
# An absolute inner width may exceed the feature width (a capacity control matching a large block); this bound only
# keeps a typo such as inner_channels=1e9 from allocating gigabytes.
MAX_INNER_CHANNELS = 4096
# Shared option names and their allowed integer range (the block itself checks what depends on its width).
VOCABULARY = {
    "reduction": (1, MAX_CHANNELS, "a divisor of the channel count: inner width = channels // reduction"),
    "inner_channels": (1, MAX_INNER_CHANNELS, "an absolute inner channel count"),
}
_SCALARS = (bool, int, float, str, type(None))


class Probe(nn.Identity):
    """A named point in a block's forward pass: returns its input unchanged and holds no parameters (a mechanism
    control's ``ConstantGate``, in ``blocks.fixed_gate``, is the one subclass that replaces what passes it).

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
        aliases: (old name, canonical name) of options renamed to the shared vocabulary; still accepted.
        implied: For options whose default None is worked out from the width: ``implied(channels)`` gives the values
            None stands for, so that an option set to exactly that value gets the same id as the default.
        fixed_gate_of: For a mechanism control (``blocks.fixed_gate``), the block whose gate it fixes; else None.
        parent_control_of: For a control of a block in a trained parent, (``"capacity"`` or ``"freshness"``, the
            block it stands in for), e.g. ``plain_a2b``'s ``("capacity", "a2b")``; else None.
    """

    name: str
    factory: BlockFactory
    paper: str
    min_size: int = 1
    quadratic: bool = False
    aliases: tuple[tuple[str, str], ...] = ()
    implied: Callable[[int], dict[str, Any]] | None = None
    fixed_gate_of: str | None = None
    parent_control_of: tuple[str, str] | None = None

    def parameters(self) -> list[inspect.Parameter]:
        """The factory's option parameters (every one after ``channels``), annotations evaluated where possible."""
        try:
            signature = inspect.signature(self.factory, eval_str=True)
        except Exception:  # an annotation that names something only a type checker imports: use the defaults
            signature = inspect.signature(self.factory)
        return list(signature.parameters.values())[1:]

    def default_options(self) -> dict[str, Any]:
        """The factory's options (every parameter after ``channels``) and their defaults."""
        return {p.name: p.default for p in self.parameters()}


_REGISTRY: dict[str, BlockSpec] = {}


def register(
    name: str,
    *,
    paper: str,
    min_size: int = 1,
    quadratic: bool = False,
    aliases: Mapping[str, str] | None = None,
    implied: Callable[[int], dict[str, Any]] | None = None,
    fixed_gate_of: str | None = None,
    parent_control_of: tuple[str, str] | None = None,
):
    """Class or function decorator that registers a block factory under ``name``.

    ``aliases`` maps old option names to the factory's (canonical) ones; ids and spaces show the canonical names.
    ``implied``, ``fixed_gate_of`` and ``parent_control_of`` are ``BlockSpec``'s.

    Raises:
        ValueError: ``name`` holds a character a genotype id cannot (``NAME_PATTERN``), or is registered twice.
    """

    if not isinstance(name, str) or re.fullmatch(NAME_PATTERN, name) is None:
        raise ValueError(
            f"block name {name!r} cannot appear in a genotype id: a name holds lowercase letters, digits and _ only "
            f"({NAME_PATTERN}), e.g. {re.sub('[^a-z0-9_]+', '_', str(name).lower()).strip('_') or 'my_block'!r}"
        )

    def decorate(factory: BlockFactory) -> BlockFactory:
        if name in _REGISTRY:
            raise ValueError(f"block {name!r} is registered twice")
        if parent_control_of is not None and parent_control(*reversed(parent_control_of)) is not None:
            raise ValueError(f"block {parent_control_of[1]!r} has a {parent_control_of[0]} control already")
        entry = BlockSpec(
            name,
            factory,
            paper,
            min_size,
            quadratic,
            tuple(sorted((aliases or {}).items())),
            implied,
            fixed_gate_of,
            parent_control_of,
        )
        options = entry.default_options()
        for old, new in entry.aliases:
            if new not in options or old in options:
                raise ValueError(f"block {name!r}: alias {old!r} must name an option other than {new!r}'s own")
        _REGISTRY[name] = entry
        return factory

    return decorate


def names() -> list[str]:
    """Registered block names, in registration order."""
    return list(_REGISTRY)


def parent_control(block: str, kind: str) -> str | None:
    """The block registered as ``block``'s ``kind`` control in a trained parent (``parent_control_of``), or None."""
    return next((name for name, entry in _REGISTRY.items() if entry.parent_control_of == (kind, block)), None)


def spec(name: str) -> BlockSpec:
    """The registry entry for ``name``.

    Raises:
        UnknownBlockError: ``name`` is not registered.
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UnknownBlockError(f"unknown block {name!r}; valid blocks: {', '.join(names())}") from None


def _accepted_types(parameter: inspect.Parameter) -> tuple[type, ...] | None:
    """The scalar types an option takes, from its annotation or else its default; None: not checked."""
    annotation = parameter.annotation
    if annotation is inspect.Parameter.empty or isinstance(annotation, str):
        default = parameter.default
        return None if default is None or default is inspect.Parameter.empty else (type(default),)
    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    members = typing.get_args(annotation) if union else (annotation,)
    return members if all(member in _SCALARS for member in members) else None


def _describe(accepted: tuple[type, ...], key: str) -> str:
    words = {bool: "true or false", int: "an integer", float: "a finite number", str: "a string"}
    allowed = [words[t] for t in accepted if t in words]
    if int in accepted and key in VOCABULARY:
        _, high, meaning = VOCABULARY[key]
        allowed[allowed.index("an integer")] = f"a positive integer up to {high} ({meaning})"
    return " or ".join(allowed + (["null (the default)"] if type(None) in accepted else []))


def _converted(value: Any, accepted: tuple[type, ...]) -> Any:
    """``value`` as the first accepted type it converts to without loss; raises ValueError if none."""
    if value is None or isinstance(value, bool):
        if type(value) in accepted:
            return value
        raise ValueError  # booleans are not numbers, None only where the option defaults to it
    if int in accepted and (type(value) is int or (type(value) is float and value.is_integer())):
        return int(value)
    if float in accepted and type(value) in (int, float) and math.isfinite(value):
        return float(value)
    if str in accepted and isinstance(value, str):
        return value
    raise ValueError


def _checked_value(block: str, key: str, value: Any, parameter: inspect.Parameter) -> Any:
    accepted = _accepted_types(parameter)
    if accepted is None:
        return value
    low, high, _ = VOCABULARY.get(key, (-math.inf, math.inf, ""))
    try:
        converted = _converted(value, accepted)
    except ValueError:
        pass
    else:
        if type(converted) is not int or low <= converted <= high:
            return converted
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise BlockOptionError(f"block {block!r}: {key} must be {_describe(accepted, key)}, got {shown}")


def canonical_options(name: str, options: Mapping[str, Any], channels: int | None = None) -> dict[str, Any]:
    """``options`` of block ``name`` under their canonical names, each value checked and normalised by the type of
    the factory's parameter: ``4.0`` becomes ``4`` for an integer option, neither a boolean nor a string is a
    number (text formats read numbers first: ``nas.core.spaces``, ``nas.core.genotypes``), and shared
    options (``VOCABULARY``) must lie in their range. Given ``channels``, a value equal to what a None default
    stands for at that width (``BlockSpec.implied``) becomes None, so that equal modules have equal options.

    Raises:
        UnknownBlockError: ``name`` is not registered.
        BlockOptionError: an unknown option, an option given twice (under its name and an alias), or a bad value.
    """
    entry = spec(name)
    parameters = {p.name: p for p in entry.parameters()}
    aliases = dict(entry.aliases)
    canonical: dict[str, Any] = {}
    given_as: dict[str, str] = {}
    for key, value in options.items():
        target = aliases.get(key, key)
        if target not in parameters:
            offered = ", ".join(f"{k}={v!r}" for k, v in entry.default_options().items()) or "no options"
            renamed = "".join(f" ({old} is an old name of {new})" for old, new in entry.aliases)
            raise BlockOptionError(f"block {name!r} has no option {key}; it takes: {offered}{renamed}")
        if target in given_as:
            old = given_as[target] if given_as[target] != target else key
            raise BlockOptionError(
                f"block {name!r}: {given_as[target]} and {key} are one option ({old} is the old name of {target}); "
                "give it once"
            )
        given_as[target] = key
        canonical[target] = _checked_value(name, target, value, parameters[target])
    implied = entry.implied(channels) if entry.implied is not None and channels is not None else {}
    return {key: None if key in implied and implied[key] == value else value for key, value in canonical.items()}


def create(name: str, channels: int, **options: Any) -> nn.Module:
    """Builds block ``name`` for ``channels`` feature channels.

    Raises:
        UnknownBlockError: ``name`` is not registered.
        BlockOptionError: an option is unknown, or the block cannot be built with these values.
    """
    entry = spec(name)
    if not isinstance(channels, int) or isinstance(channels, bool) or not 1 <= channels <= MAX_CHANNELS:
        raise BlockOptionError(
            f"block {name!r}: channels must be an integer from 1 to {MAX_CHANNELS}, got {channels!r}"
        )
    return entry.factory(channels, **canonical_options(name, options))
