"""The capacity-control block and the width that matches its slot to a tested block's slot."""

from __future__ import annotations

import pytest
import torch

import blocks
from nas.core import capacity
from nas.errors import InputError


def parameter_count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_conv_is_registered_and_its_parameters_grow_with_the_inner_width() -> None:
    assert "conv" in blocks.names()
    assert blocks.spec("conv").default_options() == {"inner_channels": 16, "kernel_size": 3}
    # k×k C→w plus 1×1 w→C, no biases: (k² + 1)·C·w.
    assert parameter_count(blocks.create("conv", 40)) == 6_400
    assert parameter_count(blocks.create("conv", 40, inner_channels=113)) == 45_200
    assert parameter_count(blocks.create("conv", 16, inner_channels=8, kernel_size=1)) == 256
    with pytest.raises(blocks.BlockOptionError, match="kernel_size must be 3 or 1"):
        blocks.create("conv", 16, kernel_size=5)


def test_conv_is_its_input_plus_a_convolution_of_it() -> None:
    torch.manual_seed(0)
    module = blocks.create("conv", 8, inner_channels=3)
    x = torch.randn(2, 8, 9, 7)
    with torch.no_grad():
        module.project.weight.zero_()
    torch.testing.assert_close(module(x), x)  # no gate: a zero branch leaves the features untouched


@pytest.mark.parametrize("width", [0, -3, 2.5, True, "8"])
def test_conv_rejects_an_inner_width_that_is_not_a_positive_integer(width: object) -> None:
    with pytest.raises(blocks.BlockOptionError, match="inner_channels must be a positive integer"):
        blocks.create("conv", 16, inner_channels=width)


def test_a2b_and_a_plain_slot_have_the_counts_the_matching_compares() -> None:
    assert capacity.slot_parameters("a2b", 40) == 62_860
    assert capacity.slot_parameters("none", 40) == 17_600


@pytest.mark.parametrize(
    ("block", "channels", "width", "kernel"),
    [("a2b", 40, 113, 3), ("pa", 40, 4, 3), ("a2b", 16, 45, 3), ("pa", 16, 8, 1), ("lia", 40, 22, 3)],
)
def test_matched_options_of_known_blocks(block: str, channels: int, width: int, kernel: int) -> None:
    assert capacity.matched_control(block, channels).options == {"inner_channels": width, "kernel_size": kernel}


@pytest.mark.parametrize("channels", [16, 40])
@pytest.mark.parametrize("block", blocks.names())
def test_every_block_is_matched_on_what_it_adds_within_ten_percent_or_refused_clearly(
    block: str, channels: int
) -> None:
    added = capacity.slot_parameters(block, channels) - capacity.slot_parameters("none", channels)
    widths = range(1, min(max(1, added) // channels + 2, 4096))  # past every width that could match
    # conv adds (k² + 1)·C·w parameters (checked above on built modules): every width's miss, without building it.
    misses = [abs((k * k + 1) * channels * w - added) for k in (3, 1) for w in widths]
    try:
        match = capacity.matched_control(block, channels)
    except capacity.CapacityMatchError as error:
        assert isinstance(error, InputError) and f"no capacity control for {block!r}" in str(error)
        assert added <= 0 or min(misses) > 0.10 * added  # no width and kernel would have done
        return
    assert match.tested_added == added
    assert match.control_added == capacity.added_parameters("conv", channels, match.options)
    assert abs(match.control_added - added) <= 0.10 * added
    if match.options["kernel_size"] == 3:  # the closest 3×3 width: one channel more or less is no closer
        width = match.options["inner_channels"]
        for other in (width - 1, width + 1):
            if other >= 1:
                other_added = capacity.added_parameters("conv", channels, {"inner_channels": other})
                assert abs(other_added - added) >= abs(match.control_added - added)


def test_a_control_of_pixel_attention_at_c16_adds_what_it_adds_not_a_share_of_the_slot() -> None:
    # pa adds 272 parameters to a 2,816-parameter slot: a 3×3 width of 2 adds 320 (+18 %), within 10 % of the
    # whole slot but not of what pa adds; the 1×1 width of 8 adds 256 (-5.9 %).
    match = capacity.matched_control("pa", 16)
    assert (match.tested_added, match.control_added) == (272, 256)
    assert (
        match.text("pa", "conv")
        == "conv(inner_channels=8, kernel_size=1) adds 256 parameters where pa adds 272 (-5.9%)"
    )


def test_matching_uses_the_tested_blocks_options() -> None:
    # Reduction 2 widens a2b's branch-weight MLP by 420 parameters (63,280 in all): one more inner channel.
    assert capacity.matched_control("a2b", 40, {"reduction": 2}).options["inner_channels"] == 114


def test_a_control_without_width_options_is_refused() -> None:
    with pytest.raises(capacity.CapacityMatchError, match="has no 'inner_channels' and 'kernel_size' options"):
        capacity.matched_control("a2b", 40, control="pa")
