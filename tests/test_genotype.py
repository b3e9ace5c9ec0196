"""Genotype ids round-trip, aliases resolve, and the builder makes the released A2N exactly."""

from __future__ import annotations

import pytest
import torch

import blocks
from nas.core import networks, spaces
from nas.core.genotypes import Genotype, GenotypeError, a2n
from nas.sr import weight_files

SPACE = spaces.parse(
    {"name": "g", "scale": 3, "channels": 16, "upsampler_channels": 8, "depth": 4, "choices": ["none", "shuffle"],
     "block_options": {"shuffle": {"groups": 2}}, "proxy": {"patch_size": 16}}
)  # fmt: skip


@pytest.mark.parametrize(
    "placement",
    [["none"] * 4, ["a2b", "a2b", "ca", "none"], blocks.names(), ["psa_p", "ca_sp", "psa_p", "sp_ca"]],
)
def test_canonical_id_round_trips(placement: list[str]) -> None:
    genotype = Genotype.create(2, 40, 24, placement, {"shuffle": {"groups": 4}, "ca": {"reduction": 16}})
    text = str(genotype)
    assert Genotype.parse(text) == genotype
    assert str(Genotype.parse(text)) == text
    assert ("shuffle(groups=4)" in text) == ("shuffle" in placement)
    assert "reduction" not in text  # default options are not part of the id


def test_runs_are_compressed_and_equivalent_spellings_share_one_id() -> None:
    assert str(Genotype.create(2, 40, 24, ["none", "none", "ca", "a2b", "a2b", "a2b"])) == "x2.c40.u24:none*2-ca-a2b*3"
    assert Genotype.parse("x2.c40.u24:none-none-ca-a2b*3") == Genotype.parse("x2.c40.u24:none*2-ca-a2b*3")


def test_aliases_resolve_against_the_space() -> None:
    assert str(Genotype.resolve("a2n", SPACE)) == "x3.c40.u24:a2b*16"
    assert str(Genotype.resolve("uniform:shuffle", SPACE)) == "x3.c16.u8:shuffle*4;shuffle(groups=2)"


def test_uniform_placement_keeps_to_each_depths_choices() -> None:
    narrowed = spaces.parse(
        {"name": "g", "scale": 2, "channels": 16, "depth": 3, "choices": ["none", "ca", "pa"],
         "overrides": {0: ["none", "pa"], 2: ["ca"]}, "proxy": {"patch_size": 16}}
    )  # fmt: skip
    assert str(Genotype.resolve("uniform:pa", narrowed)) == "x2.c16.u24:pa*2-ca"
    assert str(Genotype.resolve("uniform:ca", narrowed)) == "x2.c16.u24:none-ca*2"
    with pytest.raises(GenotypeError, match="not a choice of space 'g'"):
        Genotype.resolve("uniform:a2b", narrowed)


@pytest.mark.parametrize("text", ["a2n-ish", "x2.c40:ca", "x2.c40.u24:ca*x", "x2.c40.u24:ca;shuffle[groups=2]"])
def test_malformed_ids_are_rejected(text: str) -> None:
    with pytest.raises(GenotypeError):
        Genotype.parse(text)


def test_unknown_block_in_an_id_lists_the_valid_ones() -> None:
    with pytest.raises(blocks.UnknownBlockError, match="valid blocks: none"):
        Genotype.parse("x2.c40.u24:ca-swin")


@pytest.mark.parametrize(("scale", "expected"), [(2, 1_036_443), (3, 1_036_443), (4, 1_047_459)])
def test_a2n_genotype_has_the_published_parameter_count(scale: int, expected: int) -> None:
    assert sum(p.numel() for p in networks.build(a2n(scale)).parameters()) == expected


def test_a2n_genotype_loads_the_released_checkpoint_tensor_by_tensor(reference) -> None:
    state = networks.from_official_keys(weight_files.read_state_dict(reference / "a2n" / "a2n_x2_official.pt"))
    network = networks.build(a2n(2))
    weight_files.load_exactly(network, state, "released A2N")
    for key, tensor in network.state_dict().items():
        assert torch.equal(tensor, state[key]), key


def test_slots_wrap_attention_after_the_three_by_three_conv() -> None:
    network = networks.build(Genotype.create(2, 16, 8, ["none", "ca", "a2b"]))
    none_slot, ca_slot, a2b_slot = network.slots
    assert isinstance(none_slot.attention, torch.nn.Identity)
    assert isinstance(ca_slot.attention, blocks.channel_spatial.ChannelAttention)
    assert isinstance(a2b_slot, blocks.a2n.AttentionInAttentionBlock)
    x = torch.rand(2, 3, 10, 12)
    assert network(x).shape == (2, 3, 20, 24)
