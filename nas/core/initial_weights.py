"""Initial weights from (seed, module path): one seed is one stream of common random numbers for every genotype.

Drawing initial weights from torch's global generator in construction order shifts every module built after the
first slot where two genotypes differ, so two genotypes trained "with the same seed" share almost no initial
weight, and a paired comparison of them is paired in name only. Here every module that initialises its own
tensors (``reset_parameters``) draws them from a generator seeded by the trial seed, its qualified name in the
network, its class name and the shapes of its tensors. Two genotypes trained with one seed therefore start from
bit-identical weights in every module they have in common: the stem, the trunk conv, the upsampler, a whole slot
whose block is the same, and the ``conv_first`` / ``non_attention`` / ``conv_last`` an ``a2b`` slot shares with
any other slot. Modules at one path that differ in class or shapes draw from different streams; two same-named,
same-shaped leaves of different blocks share one, which is harmless (each is a valid draw of its own init).

Each module keeps its own initialisation: ``reset_parameters`` runs as it would at construction. Modules are
visited children first, so a block that re-initialises its children in its own ``reset_parameters`` (PSA's
Kaiming-normal convs) has the last word, as in its constructor. A block whose random initial values are not made
by some ``reset_parameters`` would escape the seeding (they then follow the seed through construction order, as
``nas.core.training.build_network`` seeds the construction too); the zoo's conformance tests catch that.
"""

from __future__ import annotations

import hashlib
import json
from typing import TypeVar

import torch
from torch import nn

ModuleT = TypeVar("ModuleT", bound=nn.Module)

# Names the scheme in every training's identity (evaluation keys, records, checkpoints): results made under
# another scheme are never reused or paired with these.
SCHEME = "module-path"


def module_seed(seed: int, path: str, module: nn.Module) -> int:
    """The seed of ``module``'s initial weights: a 63-bit hash of the trial seed, the module's path, its class name
    and the shapes of its parameters and buffers (its whole subtree). The class's module is left out: a plugin's
    module name follows its file's location, which must not change the weights."""
    shapes = [[name, list(tensor.shape)] for name, tensor in (*module.named_parameters(), *module.named_buffers())]
    identity = json.dumps([seed, path, type(module).__qualname__, shapes]).encode()
    return int.from_bytes(hashlib.blake2b(identity, digest_size=8).digest(), "big") >> 1


def initialise(network: ModuleT, seed: int) -> ModuleT:
    """Re-draws every initial weight of ``network`` from (``seed``, module path); returns the network.

    The network must be on the CPU (initial weights are drawn there, so they are the same on every device). Torch's
    CPU generator is left as it was, so nothing else a caller draws depends on the network's layout; accelerator
    generators are not touched.
    """
    modules = list(network.named_modules())
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        for path, module in reversed(modules):  # descendants before their ancestors
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                torch.default_generator.manual_seed(module_seed(seed, path, module))
                reset()
    return network
