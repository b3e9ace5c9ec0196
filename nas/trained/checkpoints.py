"""Trained networks from files: harness checkpoints (``nas train --save``) and the released A2N weights.

A harness checkpoint is one ``torch.save`` file, ``{"state_dict": tensors, "metadata": JSON text}`` (written and
read by ``nas.sr.weight_files``; ``torch.load(path, weights_only=True)`` reads it). The metadata names the format
and its version, the genotype id, the scale, the input range the weights expect and the evaluation protocol,
plus whatever the writer adds (the seed, budget, data and validation scores of ``nas train``), and a hash of all of
it with the tensors (``weight_files.content_hash``): a checkpoint edited after saving is refused.

Released weights carry no metadata; their scale is the one the user gives, checked only against a scale the file's
name states (``a2n_x2.pt``); a name that states none is warned about, and the scale recorded as given.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import blocks
from nas.core import genotypes, networks
from nas.core.genotypes import Genotype
from nas.errors import InputError
from nas.sr import protocol, weight_files

FORMAT = "nas-checkpoint"
VERSION = 1
RELEASED_INPUT_RANGE = 255.0  # the released A2N weights were trained on pixel values in [0, 255]
RESAVE = "re-save it with nas train --save"
# A scale in a file name: x2, X3 or BasicSR's BIX4, not inside a word or a longer number ("a2n_x2_official.pt").
NAMED_SCALE = re.compile(r"(?<![a-z0-9])(?:bi)?x(\d{1,2})(?!\d)", re.IGNORECASE)

logger = logging.getLogger(__name__)


@dataclass
class TrainedNetwork:
    """A network with its weights loaded, and where they came from."""

    network: networks.SRNetwork
    genotype: Genotype
    source: str  # "checkpoint PATH" or "weights PATH", for labels
    metadata: dict[str, Any] = field(default_factory=dict)


def save_network(path: str | Path, network: networks.SRNetwork, genotype: Genotype, **extra: Any) -> None:
    """Writes ``network``'s weights with the metadata that ``load`` rebuilds it from.

    Args:
        path: The file to write.
        network: The trained network.
        genotype: Its architecture.
        **extra: JSON-ready facts to keep with it (seed, budget, scores).
    """
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "genotype": str(genotype),
        "scale": genotype.scale,
        "input_range": network.input_range,
        "protocol": protocol.describe(genotype.scale),
        **extra,
    }
    weight_files.write(path, network.state_dict(), metadata)


def _field(metadata: dict[str, Any], key: str, kind: type | tuple[type, ...], path: Path) -> Any:
    value = metadata.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise InputError(
            f"checkpoint {path}: metadata {key!r} is {value!r}, not a valid value; save it again with nas train --save"
        )
    return value


def _check_format(metadata: dict[str, Any], path: Path) -> None:
    if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
        raise InputError(
            f"checkpoint {path}: metadata format {metadata.get('format')!r} version {metadata.get('version')!r} is "
            f"not {FORMAT!r} version {VERSION}; save it again with nas train --save"
        )


def _check_unaltered(state: dict[str, Any], metadata: dict[str, Any], path: Path) -> None:
    """Raises:
    InputError: the metadata or the tensors differ from what was saved (the hash saved with them differs).

    A checkpoint saved before checkpoints carried a hash loads with a warning: an edit cannot be found there.
    """
    saved = metadata.get(weight_files.HASH_KEY)
    if saved is None:
        logger.warning("checkpoint %s carries no content hash (saved by an older harness), so an edit of its "
                       "metadata or weights cannot be found; %s", path, RESAVE)  # fmt: skip
    elif saved != weight_files.content_hash(state, metadata):
        raise InputError(
            f"checkpoint {path} was altered after it was saved: its metadata (genotype, scale, ...) or its tensors "
            f"no longer match the hash saved with them; use the file as saved, or {RESAVE}"
        )


def _genotype(metadata: dict[str, Any], path: Path) -> Genotype:
    text = _field(metadata, "genotype", str, path)
    try:
        genotype = Genotype.parse(text)
    except (InputError, blocks.UnknownBlockError) as error:
        raise InputError(f"checkpoint {path}: metadata genotype: {error}") from None
    scale = _field(metadata, "scale", int, path)
    if scale != genotype.scale:
        raise InputError(f"checkpoint {path}: metadata scale {scale} differs from its genotype's ({genotype.scale})")
    return genotype


def load(path: str | Path) -> TrainedNetwork:
    """The network of a harness checkpoint, rebuilt from its genotype and loaded exactly.

    Raises:
        InputError: the file is unreadable, has no or bad metadata, its weights do not fit its genotype, or it was
            altered after it was saved (``_check_unaltered``).
    """
    state, metadata = weight_files.read_with_metadata(path)  # the path as given: an empty one is refused there
    path = Path(path)
    if metadata is None:
        raise InputError(
            f"checkpoint {path} holds weights but no harness metadata (genotype, scale); pass released A2N weights "
            "as --arch a2n --scale S --weights PATH, or save a network with nas train --save"
        )
    _check_format(metadata, path)
    genotype = _genotype(metadata, path)
    input_range = _field(metadata, "input_range", (int, float), path)
    if not input_range > 0:
        raise InputError(f"checkpoint {path}: metadata input_range must be positive, got {input_range}")
    network = networks.build(genotype, input_range=float(input_range))
    hint = f"its weights do not belong to the genotype {genotype} that its metadata names; save it again"
    weight_files.load_exactly(network, state, path, hint=hint)
    # Last: an edit the checks above let through (a scale and genotype the tensors also fit) is found here.
    _check_unaltered(state, metadata, path)
    return TrainedNetwork(network.eval(), genotype, f"checkpoint {path}", metadata)


def released_a2n(
    scale: int, weights: str | Path, input_range: float = RELEASED_INPUT_RANGE, strict_scale: bool = False
) -> TrainedNetwork:
    """The released A2N network of ``scale`` with its official weights (keys mapped to the harness's names).

    Weights trained for one scale also fit A2N at another (the same shapes) and give plausible, wrong numbers: a
    ``scale`` other than the one the file's name states (``named_scale``) is warned about, or refused with
    ``strict_scale`` (a parent that every candidate of a study inherits); where the name states no scale, the scale
    cannot be confirmed: that is warned about too, and the network's ``source`` and ``metadata`` record the scale
    as given (``scale_confirmed_by`` None).

    Raises:
        InputError: the file is unreadable or does not fit A2N at ``scale``, or (``strict_scale``) its name states
            another scale.
    """
    named = named_scale(weights)
    if named is not None and named != scale and strict_scale:
        raise InputError(
            f"{weights} states scale x{named} in its name, and the space's scale is {scale}: weights of one scale fit "
            "A2N at another with plausible but wrong numbers; use the weights of the space's scale"
        )
    if named is not None and named != scale:
        logger.warning("--scale %d differs from the scale x%d that the weights file's name states (%s); weights "
                       "trained for another scale run at this one with plausible but wrong numbers: check --scale",
                       scale, named, Path(weights).name)  # fmt: skip
    source = f"weights {weights}"
    if named is None:
        given = "the space's scale" if strict_scale else "--scale"
        logger.warning("the weights file's name (%s) states no scale, so x%d (%s) cannot be confirmed: A2N's weights "
                       "have the same shapes at every scale, and weights of another scale run at this one with "
                       "plausible but wrong numbers; check it, or name the file with its scale (a2n_x%d.pt)",
                       Path(weights).name, scale, given, scale)  # fmt: skip
        source = f"weights {weights}, x{scale} as given (the file's name states no scale)"
    genotype = genotypes.a2n(scale)
    network = networks.build(genotype, input_range=input_range)
    weight_files.load_exactly(network, networks.from_official_keys(weight_files.read_state_dict(weights)), weights)
    confirmed = "the file's name" if named is not None else None
    return TrainedNetwork(network.eval(), genotype, source, {"scale": scale, "scale_confirmed_by": confirmed})


def named_scale(path: str | Path) -> int | None:
    """The scale a weights file's name states (``x2``, ``X3``: ``NAMED_SCALE``), or None when it states none or
    several."""
    stated = {int(found) for found in NAMED_SCALE.findall(Path(path).name)}
    return stated.pop() if len(stated) == 1 else None
