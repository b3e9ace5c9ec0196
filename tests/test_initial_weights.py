"""Common random numbers: one seed gives every genotype the same initial weights in the modules they share, and the
same patch stream; and a training's identity names how its initial weights were drawn."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from nas.core import initial_weights, networks, training
from nas.core.genotypes import Genotype
from nas.core.settings import DataSources, ProxyBudget
from nas.search.store import evaluation_key

STEM_TRUNK_UPSAMPLER = ("conv_first.", "trunk_conv.", "upconv1.", "att1.", "HRconv1.", "conv_last.")
A2N_PATH = ("conv_first", "non_attention", "conv_last")


def genotype(blocks: list[str], channels: int) -> Genotype:
    return Genotype.create(2, channels, 12, blocks, {"ca": {"reduction": 4}})


def initial_state(arch: Genotype, seed: int) -> dict[str, torch.Tensor]:
    return training.build_network(arch, seed, "cpu").state_dict()


def shared_keys(first: Genotype, second: Genotype) -> set[str]:
    """The tensors of modules the two networks have in common: same path, same type, same shapes."""
    modules = [dict(training.build_network(arch, 0, "cpu").named_modules()) for arch in (first, second)]
    keys = set()
    for path, module in modules[0].items():
        other = modules[1].get(path)
        if type(other) is not type(module):
            continue
        own = {name: tensor.shape for name, tensor in module.state_dict().items()}
        if own != {name: tensor.shape for name, tensor in other.state_dict().items()}:
            continue
        keys.update(f"{path}.{name}" if path else name for name in own)
    return keys


PAIRS = {  # what differs: (first, second, the slots whose blocks differ)
    "one slot": (["none", "none", "none", "none"], ["none", "pa", "none", "none"], (1,)),
    "a group": (["none", "none", "none", "none"], ["pa", "pa", "none", "none"], (0, 1)),
    "block family": (["ca", "none", "a2b", "lia"], ["ca", "none", "esa", "lia"], (2,)),
    "a2b against none": (["none", "a2b", "none", "a2b"], ["none", "none", "none", "a2b"], (1,)),
}


@pytest.mark.parametrize("channels", [16, 24])
@pytest.mark.parametrize("pair", list(PAIRS), ids=str)
def test_genotypes_trained_with_one_seed_start_alike_in_every_module_they_share(pair: str, channels: int) -> None:
    first_blocks, second_blocks, differing = PAIRS[pair]
    first, second = genotype(first_blocks, channels), genotype(second_blocks, channels)
    first_state, second_state = initial_state(first, seed=5), initial_state(second, seed=5)
    shared = shared_keys(first, second)
    for key in sorted(shared):
        assert torch.equal(first_state[key], second_state[key]), key
    expected = {k for k in first_state if k.startswith(STEM_TRUNK_UPSAMPLER)}
    for slot in range(4):
        if slot in differing:  # the A2N path every slot has: its three convs
            expected |= {f"slots.{slot}.{name}.weight" for name in A2N_PATH}
        else:  # the same block: the whole slot
            expected |= {k for k in first_state if k.startswith(f"slots.{slot}.")}
    assert expected <= shared
    differing_tensors = (set(first_state) | set(second_state)) - shared
    assert differing_tensors, "the genotypes differ, so some tensor is not shared"
    assert all(any(k.startswith(f"slots.{slot}.") for slot in differing) for k in differing_tensors)


def test_different_seeds_draw_different_weights_in_every_random_tensor() -> None:
    arch = genotype(["ca", "a2b", "pa", "lia"], 16)
    zero, one = initial_state(arch, seed=0), initial_state(arch, seed=1)
    random_tensors = [k for k, v in zero.items() if v.numel() > 1 and v.min() != v.max()]
    assert len(random_tensors) > 20
    for key in random_tensors:
        assert not torch.equal(zero[key], one[key]), key


def test_the_same_genotype_and_seed_start_bit_for_bit_alike_whatever_was_drawn_before() -> None:
    arch = genotype(["ca", "a2b", "pa", "lia"], 16)
    torch.manual_seed(11)
    first = initial_state(arch, seed=3)
    torch.rand(1000)  # the global generator moved on
    second = initial_state(arch, seed=3)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_seeding_leaves_the_global_generator_where_it_was() -> None:
    network = networks.build(genotype(["pa", "a2b", "none", "ca"], 16))
    torch.manual_seed(4)
    expected = torch.rand(3)
    torch.manual_seed(4)
    initial_weights.initialise(network, seed=9)
    assert torch.equal(torch.rand(3), expected)


def test_a_module_that_differs_in_shape_does_not_share_a_stream() -> None:
    narrow = torch.nn.Conv2d(16, 16, 3)
    wide = torch.nn.Conv2d(16, 24, 3)
    path = "slots.0.conv"
    assert initial_weights.module_seed(0, path, narrow) != initial_weights.module_seed(0, path, wide)
    linear = torch.nn.Linear(16, 16, bias=False)
    pointwise = torch.nn.Conv2d(16, 16, 1, bias=False)
    assert initial_weights.module_seed(0, "x", linear) != initial_weights.module_seed(0, "x", pointwise)


def test_the_patch_stream_is_the_same_for_every_genotype_of_a_seed() -> None:
    budget = ProxyBudget(iterations=10, batch_size=4, patch_size=16, lr=1e-3)
    streams = []
    for blocks in (["none"] * 4, ["pa", "a2b", "lia", "ca"]):
        arch = genotype(blocks, 16)
        step = training.ProxyStep(training.build_network(arch, 2, "cpu"), arch, "builtin", 2, "cpu", budget)
        streams.append([step.sampler.sample(4) for _ in range(3)])
    for (lr_a, hr_a), (lr_b, hr_b) in zip(*streams, strict=True):
        assert torch.equal(lr_a, lr_b) and torch.equal(hr_a, hr_b)


def test_a_trainings_identity_names_its_initial_weights_scheme(monkeypatch: pytest.MonkeyPatch) -> None:
    arch_id, budget, sources = "x2.c16.u12:none*4", ProxyBudget(), DataSources()
    current = evaluation_key(arch_id, 0, budget, sources)
    monkeypatch.setattr(initial_weights, "SCHEME", "construction-order")
    assert evaluation_key(arch_id, 0, budget, sources) != current


def test_a_training_records_its_initial_weights_scheme() -> None:
    arch = genotype(["none", "pa"], 16)
    budget = ProxyBudget(iterations=2, batch_size=2, patch_size=16, lr=1e-3)
    _, result = training.train_network(arch, budget, DataSources(), seed=0, threads=1, measure_untrained=False)
    assert result.initial_weights == initial_weights.SCHEME
    given = training.build_network(arch, 0, "cpu")
    _, result = training.train_network(
        arch, replace(budget, iterations=1), DataSources(), seed=0, threads=1, measure_untrained=False, network=given
    )
    assert result.initial_weights == "given"
