"""Genotypes: one block per depth, with a canonical readable id that is the results and dedup key.

The id reads ``x2.c40.u24:none*3-ca-a2b*12`` (scale, trunk width, upsampler width, then the blocks from the
first depth to the last, runs of the same block written ``name*count``), followed by the options that differ
from each block's defaults, as ``;shuffle(groups=4)``. ``str(Genotype.parse(text)) == text`` for every
canonical id, and equal architectures always have equal ids.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import yaml

import blocks
from nas.core.spaces import SearchSpace
from nas.errors import InputError

A2N_ALIAS = "a2n"
UNIFORM_PREFIX = "uniform:"
_HEADER = re.compile(r"^x(?P<scale>\d+)\.c(?P<channels>\d+)\.u(?P<up>\d+)$")
_RUN = re.compile(r"^(?P<block>[a-z0-9_]+)(?:\*(?P<count>\d+))?$")
_OPTIONS = re.compile(r"^(?P<block>[a-z0-9_]+)\((?P<body>[^()]*)\)$")


class GenotypeError(InputError):
    """A genotype id that cannot be parsed or does not fit its space."""


def _format_value(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


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
        block_options: dict[str, dict[str, Any]] | None = None,
    ) -> Genotype:
        """A genotype with its options normalised: only blocks that are placed, only non-default values."""
        options = []
        for block, values in sorted((block_options or {}).items()):
            if block not in placement:
                continue
            defaults = blocks.spec(block).default_options()
            changed = tuple(sorted((k, v) for k, v in values.items() if defaults.get(k, object()) != v))
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
            GenotypeError: the text is not a genotype id or names unknown blocks.
        """
        head, _, rest = text.strip().partition(":")
        header = _HEADER.match(head)
        if not header or not rest:
            raise GenotypeError(f"genotype {text!r} is not of the form x2.c40.u24:block-block*3-...")
        placement_text, *option_texts = rest.split(";")
        placement: list[str] = []
        for run_text in placement_text.split("-"):
            run = _RUN.match(run_text)
            if not run:
                raise GenotypeError(f"genotype {text!r}: {run_text!r} is not a block or block*count")
            blocks.spec(run["block"])  # raises UnknownBlockError listing the valid names
            placement.extend([run["block"]] * int(run["count"] or 1))
        block_options: dict[str, dict[str, Any]] = {}
        for option_text in option_texts:
            match = _OPTIONS.match(option_text)
            if not match:
                raise GenotypeError(f"genotype {text!r}: {option_text!r} is not block(key=value,...)")
            pairs = [item.partition("=") for item in match["body"].split(",") if item]
            block_options[match["block"]] = {k: yaml.safe_load(v) for k, _, v in pairs}
        return cls.create(int(header["scale"]), int(header["channels"]), int(header["up"]), placement, block_options)

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
        placement.append(block if block in allowed else "none" if "none" in allowed else allowed[0])
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
