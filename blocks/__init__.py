"""The attention zoo: every block the search can place in a slot, behind one constructor contract.

``create(name, channels, **options)`` builds a module whose output has its input's shape; ``names()`` lists
the registry; ``canonical_options`` checks options and resolves old option names (see ``blocks.registry``).
One file per family; each module docstring cites its paper and states where it departs from the official code.
"""

from __future__ import annotations

from torch import nn

from blocks.registry import (
    MAX_CHANNELS,
    NAME_PATTERN,
    VOCABULARY,
    BlockOptionError,
    BlockSpec,
    Probe,
    UnknownBlockError,
    attention_map_probe,
    canonical_options,
    create,
    names,
    parent_control,
    register,
    spec,
)

NO_ATTENTION = "none"  # the block that leaves a slot without attention: the reference every effect is measured from
register(NO_ATTENTION, paper="no attention (identity)")(lambda channels: nn.Identity())

# Importing a family module registers its blocks.
from blocks import (  # noqa: E402, F401
    a2n,
    channel_spatial,
    conv,
    danet,
    esa,
    fla,
    lia,
    pan,
    psa,
    shuffle,
)
from blocks.fixed_gate import controlled_block, mechanism_control, register_fixed_variants  # noqa: E402

register_fixed_variants()  # after every family: each block with a gate gets its mechanism control

__all__ = [
    "MAX_CHANNELS",
    "NAME_PATTERN",
    "VOCABULARY",
    "BlockOptionError",
    "BlockSpec",
    "Probe",
    "UnknownBlockError",
    "attention_map_probe",
    "canonical_options",
    "controlled_block",
    "create",
    "mechanism_control",
    "names",
    "parent_control",
    "register",
    "register_fixed_variants",
    "spec",
]
