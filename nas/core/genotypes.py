"""Genotypes: one block per depth, with a canonical readable id that is the results and dedup key.

The id reads ``x2.c40.u24:none*3-ca-a2b*12`` (scale, trunk width, upsampler width, then the blocks from the
first depth to the last, runs of the same block written ``name*count``), followed by the options that differ
from each block's defaults, as ``;shuffle(groups=4)``. ``str(Genotype.parse(text)) == text`` for every
canonical id, and equal architectures always have equal ids: option names and values are canonicalised by
``blocks.canonical_options`` (old option names become the current ones, ``4.0`` becomes ``4`` for an integer
option), and an id that names an option or a block's option group twice is refused.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import yaml

import blocks
from nas.core.safe_yaml import load_yaml
from nas.core.spaces import MAX_DEPTH, SearchSpace, patch_problem
from nas.errors import InputError
from nas.sr.protocol import SUPPORTED_SCALES

A2N_ALIAS = "a2n"
UNIFORM_PREFIX = "uniform:"
_HEADER = re.compile(r"^x(?P<scale>\d+)\.c(?P<channels>\d+)\.u(?P<up>\d+)$")
_RUN = re.compile(rf"^(?P<block>{blocks.NAME_PATTERN})(?:\*(?P<count>\d+))?$")
_OPTIONS = re.compile(rf"^(?P<block>{blocks.NAME_PATTERN})\((?P<body>[^()]*)\)$")
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class GenotypeError(InputError):
    """A genotype id that cannot be parsed or does not fit its space."""


def _number(digits: str, text: str) -> int:
    # No scale, width or block count has 10 digits; refusing them first keeps int() bounded and the message short.
    if len(digits) > 9:
        raise GenotypeError(f"genotype {_shown(text)}: {digits[:12]}... is far beyond any scale, width or block count")
    return int(digits)


def _shown(text: str) -> str:
    return repr(text) if len(text) <= 80 else repr(text[:77] + "...")


def _format_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _check_shape(scale: int, channels: int, upsampler_channels: int, depth: int) -> None:
    """Refuses a header or depth no network can have, before anything is allocated."""
    header = f"x{scale}.c{channels}.u{upsampler_channels}"
    if scale not in SUPPORTED_SCALES:
        raise GenotypeError(f"genotype {header}: scale x{scale} is not supported; use x2, x3 or x4")
    for letter, width, name in (("c", channels, "trunk"), ("u", upsampler_channels, "upsampler")):
        if not 1 <= width <= blocks.MAX_CHANNELS:
            raise GenotypeError(
                f"genotype {header}: {letter}{width}: the {name} width must be from 1 to {blocks.MAX_CHANNELS}"
            )
    if not 1 <= depth <= MAX_DEPTH:
        raise GenotypeError(f"genotype {header}: {depth} blocks; a network has 1 to {MAX_DEPTH}")


def _option_value(text: str, where: str) -> Any:
    """One option value of an id: a YAML scalar (number, true/false, null or a word)."""
    try:
        value = load_yaml(text)
    except yaml.YAMLError:
        value = []
    if isinstance(value, (list, dict)) or value == "" or not text:
        raise GenotypeError(f"{where}: {_shown(text)} is not a single value (a number, true/false, null or a word)")
    if isinstance(value, str) and len(value) < 40:
        try:
            return float(value)  # YAML 1.1 reads 1e9 (no dot) as a string; it is still a number
        except ValueError:
            return value
    return value


@dataclass(frozen=True)
class Genotype:
    """An architecture: scale, widths, one block name per depth, and non-default block options."""

    scale: int
    channels: int
    upsampler_channels: int
    blocks: tuple[str, ...]
    options: tuple[tuple[str, tuple[tuple[str, Any], ...]], ...] = ()

    @classmethod
    def create(
        cls,
        scale: int,
        channels: int,
        upsampler_channels: int,
        placement: list[str] | tuple[str, ...],
        block_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> Genotype:
        """A genotype with its options normalised: only blocks that are placed, canonical names and values, only
        non-default values.

        Raises:
            GenotypeError: a scale, width or depth no network can have.
            BlockOptionError: an option a block does not take, or a value it cannot have.
        """
        _check_shape(scale, channels, upsampler_channels, len(placement))
        options = []
        for block, values in sorted((block_options or {}).items()):
            if block not in placement:
                continue
            defaults = blocks.spec(block).default_options()
            canonical = blocks.canonical_options(block, values, channels)
            changed = tuple(sorted((k, v) for k, v in canonical.items() if defaults[k] != v))
            if changed:
                options.append((block, changed))
        return cls(scale, channels, upsampler_channels, tuple(placement), tuple(options))

    @property
    def depth(self) -> int:
        return len(self.blocks)

    def options_for(self, block: str) -> dict[str, Any]:
        return dict(dict(self.options).get(block, ()))

    def __str__(self) -> str:
        runs = []
        for block, group in groupby(self.blocks):
            count = len(list(group))
            runs.append(block if count == 1 else f"{block}*{count}")
        text = f"x{self.scale}.c{self.channels}.u{self.upsampler_channels}:{'-'.join(runs)}"
        for block, values in self.options:
            text += f";{block}(" + ",".join(f"{k}={_format_value(v)}" for k, v in values) + ")"
        return text

    @classmethod
    def parse(cls, text: str) -> Genotype:
        """The genotype of a canonical id (or of an equivalent non-canonical spelling).

        Raises:
            GenotypeError: the text is not a genotype id, or names a block's options or an option twice.
            UnknownBlockError: it names an unknown block.
            BlockOptionError: an option a block does not take, or a value it cannot have.
        """
        head, _, rest = text.strip().partition(":")
        header = _HEADER.match(head)
        if not header or not rest:
            raise GenotypeError(f"genotype {_shown(text)} is not of the form x2.c40.u24:block-block*3-...")
        scale, channels, up = (_number(header[key], text) for key in ("scale", "channels", "up"))
        _check_shape(scale, channels, up, 1)
        placement_text, *option_texts = rest.split(";")
        placement = _placement(text, placement_text)
        block_options: dict[str, dict[str, Any]] = {}
        for option_text in option_texts:
            match = _OPTIONS.match(option_text)
            if not match:
                raise GenotypeError(f"genotype {_shown(text)}: {option_text!r} is not block(key=value,...)")
            block = match["block"]
            if block in block_options:
                raise GenotypeError(
                    f"genotype {_shown(text)}: the options of {block!r} are given twice; give them once"
                )
            if block not in placement:
                raise GenotypeError(f"genotype {_shown(text)}: options for {block!r}, which is at no depth")
            block_options[block] = _options(f"genotype {_shown(text)}: {block}", match["body"])
        return cls.create(scale, channels, up, placement, block_options)

    @classmethod
    def resolve(cls, text: str, space: SearchSpace) -> Genotype:
        """A genotype from an id or an alias, in the context of ``space``.

        Aliases: ``a2n`` is the released A2N (all ``a2b``, nf 40, upsampler 24, 16 blocks) at the space's
        scale; ``uniform:<block>`` is that block at every depth of the space that allows it (see ``uniform``).
        """
        if text == A2N_ALIAS:
            return a2n(space.scale)
        if text.startswith(UNIFORM_PREFIX):
            block = text.removeprefix(UNIFORM_PREFIX)
            blocks.spec(block)
            if block not in space.all_blocks():
                raise GenotypeError(
                    f"{text!r}: block {block!r} is not a choice of space {space.name!r}; "
                    f"its blocks: {', '.join(space.all_blocks())}"
                )
            return uniform(space, block)
        return cls.parse(text)


def _placement(text: str, placement_text: str) -> list[str]:
    """The blocks of an id's ``block-block*3-...`` part, depth by depth; the depth is checked before it is made."""
    runs = []
    for run_text in placement_text.split("-"):
        run = _RUN.match(run_text)
        if not run:
            raise GenotypeError(f"genotype {_shown(text)}: {run_text!r} is not a block or block*count")
        blocks.spec(run["block"])  # raises UnknownBlockError listing the valid names
        count = _number(run["count"] or "1", text)
        if count < 1:
            raise GenotypeError(f"genotype {_shown(text)}: {run_text!r} repeats a block {count} times; use 1 or more")
        runs.append((run["block"], count))
    depth = sum(count for _, count in runs)  # a sum: the list is made only once the depth is known to be sane
    if depth > MAX_DEPTH:
        raise GenotypeError(f"genotype {_shown(text)}: {depth} blocks; a network has 1 to {MAX_DEPTH}")
    return [block for block, count in runs for _ in range(count)]


def _options(where: str, body: str) -> dict[str, Any]:
    """The ``key=value,...`` of one block's option group; each key once."""
    options: dict[str, Any] = {}
    for item in body.split(","):
        key, equals, value = item.partition("=")
        if not equals or not _KEY.match(key):
            raise GenotypeError(f"{where}: {item!r} is not key=value")
        if key in options:
            raise GenotypeError(f"{where}: option {key} is given twice; give it once")
        options[key] = _option_value(value, f"{where}({key}=...)")
    return options


def check_runs_in(genotype: Genotype, space: SearchSpace, *, training: bool) -> None:
    """Refuses a genotype that cannot run under ``space``.

    An explicit genotype fixes the architecture (widths, depth, blocks and their options), which may differ from
    the space's; the space gives the scale, the data, the proxy budget and the patch size. So the genotype's scale
    must be the space's (its images are made at that scale) and, to train, every block must fit the space's
    patches (``spaces.patch_problem``). Whether each block builds at the genotype's width is checked when the
    network is built, before any data are read.

    Raises:
        GenotypeError: naming the mismatch and the fix.
    """
    if genotype.scale != space.scale:
        raise GenotypeError(
            f"genotype {genotype} is ×{genotype.scale} but space {space.name!r} is ×{space.scale} (its data are made "
            f"at that scale); use an x{space.scale} id or a space of scale {genotype.scale}"
        )
    for block in dict.fromkeys(genotype.blocks) if training else ():
        problem = patch_problem(block, space.proxy)
        if problem:
            raise GenotypeError(
                f"genotype {genotype} cannot train with space {space.name!r}: {problem} (proxy.patch_size is "
                f"{space.proxy.patch_size}, batch_size {space.proxy.batch_size})"
            )


def resolve_runnable(text: str, space: SearchSpace, *, training: bool) -> Genotype:
    """The genotype ``text`` names in the context of ``space`` (``Genotype.resolve``), refused where it cannot run
    under ``space`` (``check_runs_in``; ``training``: it must also train with the space's patches).

    Raises:
        GenotypeError, UnknownBlockError: an invalid id or alias, or one that cannot run under ``space``.
    """
    genotype = Genotype.resolve(text, space)
    check_runs_in(genotype, space, training=training)
    return genotype


def a2n(scale: int) -> Genotype:
    """The released A2N: 16 ``a2b`` blocks, nf 40, upsampler 24 (1,036,443 parameters at ×2/×3)."""
    return Genotype.create(scale, 40, 24, ["a2b"] * 16)


def uniform(space: SearchSpace, block: str) -> Genotype:
    """``block`` at every depth of ``space`` whose choices include it, with the space's options for it.

    A depth whose override excludes ``block`` gets ``none`` (or, without ``none``, its first choice), so the
    uniform placement stays a point of the space that a search can evaluate.
    """
    placement = []
    for depth in range(space.depth):
        allowed = space.choices_at(depth)
        fallback = blocks.NO_ATTENTION if blocks.NO_ATTENTION in allowed else allowed[0]
        placement.append(block if block in allowed else fallback)
    return from_placement(space, placement)


def from_placement(space: SearchSpace, placement: list[str] | tuple[str, ...]) -> Genotype:
    """The genotype of ``space`` with one block per depth, with the space's block options."""
    return Genotype.create(space.scale, space.channels, space.upsampler_channels, placement, space.block_options)


def depth_key(depth: int) -> str:
    """The search parameter naming the block at ``depth``: ``d00``, ``d01``, ... (sorts in depth order)."""
    return f"d{depth:02d}"


def depth_index(key: str) -> int:
    """The depth a ``depth_key`` names."""
    return int(key.removeprefix("d"))


def from_params(space: SearchSpace, params: dict[str, str]) -> Genotype:
    """The genotype of a search trial's parameters (``depth_key(i)`` → block name)."""
    return from_placement(space, [params[depth_key(depth)] for depth in range(space.depth)])


def to_params(genotype: Genotype) -> dict[str, str]:
    return {depth_key(depth): block for depth, block in enumerate(genotype.blocks)}
