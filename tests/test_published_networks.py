"""The published ×2 networks a front is set beside: their costs follow the harness's convention, A2N's are the
harness's own count, and only those within a space's cost ceiling are drawn."""

from __future__ import annotations

import pytest

from nas.core import counting, genotypes
from nas.report import published_networks

LR_PIXELS = 640 * 360  # a 1280×720 output at ×2


def test_a2n_is_listed_as_the_harness_counts_the_released_network() -> None:
    (a2n,) = [n for n in published_networks.networks(2) if n.name == "A2N"]
    counted = counting.network_cost(genotypes.a2n(2))
    assert a2n.params == counted.params
    assert a2n.macs == pytest.approx(counted.macs, rel=1e-5)


def test_every_papers_macs_are_per_720p_output_a_weight_applied_once_per_lr_pixel() -> None:
    # A convolution's weight is used once per pixel it runs on, so MACs ≈ params × LR pixels for these all-conv
    # networks (a little more where upsampling runs above LR size). A count per 480×320 or in ops would miss.
    for network in published_networks.networks(2):
        per_weight = network.macs / network.params / LR_PIXELS
        if network.name == "CARN":  # its parameters hold three scales' upsamplers, one of which runs
            assert 0.5 < per_weight < 0.7
        else:
            assert 0.95 < per_weight < 1.25, network.name


def test_only_networks_within_the_cost_ceiling_are_drawn_and_only_on_a_x2_cost_axis() -> None:
    assert [name for name, _ in published_networks.markers(2, "macs", 100e9)] == ["PAN", "FALSR-B", "FALSR-C"]
    assert len(published_networks.markers(2, "macs", 300e9)) == len(published_networks.networks(2)) == 7
    assert {name for name, _ in published_networks.markers(2, "params", 700e3)} == {"PAN", "FALSR-B", "FALSR-C", "IMDN"}
    assert published_networks.markers(2, "latency_ms", 1e9) == [] and published_networks.markers(4, "macs", 1e12) == []
    lines = published_networks.table_lines(2, "macs", 100e9)
    rows = [line for line in lines if line.startswith("| ") and "dB" in line]
    assert [row.split(" | ")[4] for row in rows].count("yes") == 3 and "none is drawn" not in lines[0]
    assert "every published network is larger" in published_networks.table_lines(2, "macs", 10e9)[0]
    assert "No latency_ms is published" in published_networks.table_lines(2, "latency_ms", 1e9)[0]
    assert published_networks.table_lines(3, "macs", 1e12) == []
