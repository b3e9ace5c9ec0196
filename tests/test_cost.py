"""Cost counting: the composed count equals fvcore's count of the real network; every op is handled."""

from __future__ import annotations

import pytest

import blocks
from nas.core import counting, networks
from nas.core.genotypes import Genotype, a2n


@pytest.mark.parametrize("name", blocks.names())
def test_fvcore_meets_no_unsupported_op_in_any_slot(name: str) -> None:
    assert not counting.unsupported_ops(networks.build_slot(name, 16), (1, 16, 20, 24))


@pytest.mark.parametrize(
    "placement",
    [blocks.names()[:9], blocks.names()[9:17], blocks.names()[17:], ["pam", "pam", "a2b"], ["lia", "esa", "none"]],
    ids=["first-third", "second-third", "mechanism-controls", "quadratic", "padded"],
)
@pytest.mark.parametrize("hr_size", [(46, 62)])  # how counts grow with the size: the activations test below
def test_composed_count_equals_fvcore_on_the_whole_network(placement: list[str], hr_size: tuple[int, int]) -> None:
    genotype = Genotype.create(2, 16, 8, placement)
    network = networks.build(genotype)
    lr_shape = (1, 3, *counting.lr_size(hr_size, 2))
    composed = counting.network_cost(genotype, hr_size)
    assert composed.macs == counting.fvcore_macs(network, lr_shape)
    assert composed.ops == counting.count(network, lr_shape).ops
    assert composed.params == sum(p.numel() for p in network.parameters())
    assert counting.activations(genotype, hr_size) == counting.activation_count(network, lr_shape)


def test_quadratic_fit_matches_a_direct_count_at_a_new_size() -> None:
    direct = counting.count(blocks.create("pam", 16), (1, 16, 21, 37))
    assert counting.block_count("pam", (), 16, (21, 37)) == direct


def test_activations_grow_with_the_output_and_count_the_all_pairs_matrix() -> None:
    genotype = Genotype.create(2, 16, 8, ["pa", "pam"])
    small, large = counting.activations(genotype, (40, 40)), counting.activations(genotype, (80, 80))
    pixels = 20 * 20  # LR pixels of the small output
    assert large - 4 * small == pytest.approx(12 * pixels**2, rel=0.01)  # only the HW×HW scores grow faster


def test_a2n_costs_the_published_macs_at_1280x720() -> None:
    result = counting.network_cost(a2n(2))
    assert result.params == 1_036_443
    assert result.macs == pytest.approx(247.7e9, rel=0.005)
    assert result.hr_size == (720, 1280)
    assert result.ops > 2 * result.macs  # elementwise ops come on top of two per multiply-add


def test_pam_at_full_size_counts_its_all_pairs_attention() -> None:
    result = counting.network_cost(Genotype.create(2, 16, 8, ["pam"]))
    pixels = 360 * 640
    assert result.macs > pixels * pixels * (16 // 8 + 16)


def test_latency_is_measured_when_asked() -> None:
    genotype = Genotype.create(2, 16, 8, ["ca"])
    assert counting.network_cost(genotype, (32, 32)).latency_ms is None
    assert counting.network_cost(genotype, (32, 32), latency_device="cpu").latency_ms > 0
