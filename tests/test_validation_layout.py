"""A training's recorded PSNR is the one ``nas eval`` gets from the saved network: validation runs in the memory
layout a loaded checkpoint has (contiguous), not in the channels_last layout training uses."""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from nas.core import training
from nas.core.genotypes import Genotype
from nas.core.settings import DataSources, ProxyBudget
from nas.sr import data, evaluate


def test_the_recorded_psnr_is_that_of_the_network_as_eval_loads_it(small_images: Path) -> None:
    arch = Genotype.create(2, 16, 12, ["pa", "ca"], {})
    sources = DataSources(train="builtin", val=str(small_images))
    budget = ProxyBudget(iterations=6, batch_size=2, patch_size=16, lr=1e-3)
    network, result = training.train_network(arch, budget, sources, seed=0, device="cpu")
    assert all(p.is_contiguous() for p in network.parameters())  # as saved, and as a checkpoint loads
    pairs = data.source_pairs(sources.val, "val", 2)
    loaded_layout = copy.deepcopy(network).to(memory_format=torch.contiguous_format)
    assert evaluate.evaluate(loaded_layout, pairs, 2, "cpu").mean_psnr == result.psnr  # to the last digit
