"""The parent of a space with ``proxy.init``: the trained network every candidate inherits its weights from.

Read once per process (a search's workers train many candidates from one parent), checked to be the file the space
was validated with (its content hash) and to have the space's shape: its scale, trunk width, upsampler width and
depth, so that the stem, the trunk conv and the upsampler are inherited by every candidate.
"""

from __future__ import annotations

import functools

from nas.core import networks
from nas.core.experiment_design import ExperimentDesign, space_design
from nas.core.genotypes import Genotype
from nas.core.settings import ParentWeights
from nas.core.spaces import SearchSpace, SpaceError
from nas.errors import InputError
from nas.sr.weight_files import file_sha256
from nas.trained import checkpoints


def _read(parent: ParentWeights, scale: int) -> checkpoints.TrainedNetwork:
    """The parent network, checked to be the file the space was read with (its hash, on every call: a file changed
    while a process runs is caught too); the network itself is read once per process."""
    try:
        current = file_sha256(parent.path)
    except OSError as error:
        raise InputError(f"cannot read {parent.path} ({error.strerror}); restore the file the space names") from None
    if current != parent.sha256:
        raise InputError(
            f"{parent.path} changed since the space was read (its content hash differs); a changed parent "
            "is another experiment: point proxy.init at the file as it was, or use a space file of its own"
        )
    return _loaded(parent, scale)


@functools.lru_cache(maxsize=4)
def _loaded(parent: ParentWeights, scale: int) -> checkpoints.TrainedNetwork:
    if parent.arch is not None:  # released weights: A2N, the one architecture PARENT_ARCHES names
        return checkpoints.released_a2n(scale, parent.path, strict_scale=True)
    return checkpoints.load(parent.path)


def network(space: SearchSpace) -> networks.SRNetwork | None:
    """The parent network of ``space`` (on the CPU, in eval mode; shared: copy, never train it), or None without
    ``proxy.init``.

    Raises:
        SpaceError: the file changed, cannot be read, does not fit its architecture, has another shape than the
            space (scale, width, upsampler width, depth) or is not a genotype of it; the message names
            ``proxy.init`` and the file.
    """
    trained = _checked(space)
    return None if trained is None else trained.network


def genotype_of(space: SearchSpace) -> Genotype | None:
    """The parent's genotype (the natural reference arm of a space with ``proxy.init``), or None without one.

    Raises:
        SpaceError: as ``network``.
    """
    trained = _checked(space)
    return None if trained is None else trained.genotype


def _checked(space: SearchSpace) -> checkpoints.TrainedNetwork | None:
    parent = space.proxy.init
    if parent is None:
        return None
    where = f"{space.source}: proxy.init"
    try:
        trained = _read(parent, space.scale)
    except InputError as error:
        raise SpaceError(f"{where}: {error}") from None
    genotype = trained.genotype
    theirs = (genotype.scale, genotype.channels, genotype.upsampler_channels, len(genotype.blocks))
    ours = (space.scale, space.channels, space.upsampler_channels, space.depth)
    if theirs != ours:
        names = ("scale", "channels", "upsampler_channels", "depth")
        differ = ", ".join(f"{n} {t} (the space: {o})" for n, t, o in zip(names, theirs, ours, strict=True) if t != o)
        raise SpaceError(
            f"{where}: {parent.path} is a network of another shape: {differ}; a parent must have the space's scale, "
            "width, upsampler width and depth, so that every candidate inherits its stem, trunk and upsampler"
        )
    _check_point_of_space(trained.genotype, space, where)
    return trained


def _check_point_of_space(genotype: Genotype, space: SearchSpace, where: str) -> None:
    """Raises:
    SpaceError: the parent is not a genotype of the space: a block that is not a choice at its depth, or options
        other than the space's for a block (its arms and baseline are built with the space's options)."""
    for depth, block in enumerate(genotype.blocks):
        if block not in space.choices_at(depth):
            raise SpaceError(
                f"{where}: the parent has {block!r} at depth {depth}, which is not a choice there; the parent must be "
                f"a genotype of the space (it is the search's baseline and the experiment's reference): add {block!r}"
            )
        if genotype.options_for(block) != space.options_for(block):
            raise SpaceError(
                f"{where}: the parent's {block!r} has options {genotype.options_for(block)}, the space's "
                f"{space.options_for(block)}; set block_options.{block} to the parent's"
            )


def design_of(space: SearchSpace) -> ExperimentDesign | None:
    """The design of ``space``'s ``experiment:`` section, as changes of its parent where it has one."""
    return space_design(space, genotype_of(space))
