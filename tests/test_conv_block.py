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
    assert blocks.spec("conv").default_options() == {"inner_channels": 16}
    # 3×3 C→w plus 1×1 w→C, no biases: 10·C·w.
    assert parameter_count(blocks.create("conv", 40)) == 6_400
    assert parameter_count(blocks.create("conv", 40, inner_channels=113)) == 45_200


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
    ("block", "channels", "width"), [("a2b", 40, 113), ("pa", 40, 4), ("a2b", 16, 45), ("pa", 16, 2), ("lia", 40, 22)]
)
def test_matched_widths_of_known_blocks(block: str, channels: int, width: int) -> None:
    assert capacity.matched_inner_channels(block, channels) == width


@pytest.mark.parametrize("channels", [16, 40])
@pytest.mark.parametrize("block", blocks.names())
def test_every_block_is_matched_within_ten_percent_or_refused_clearly(block: str, channels: int) -> None:
    target = capacity.slot_parameters(block, channels)
    plain = capacity.slot_parameters("none", channels)
    one_channel = 10 * channels
    try:
        width = capacity.matched_inner_channels(block, channels)
    except capacity.CapacityMatchError as error:
        assert isinstance(error, InputError)
        assert target - plain < one_channel  # refused only when less than one inner channel's worth is added
        assert f"adds {target - plain:,} parameters" in str(error) and "drop the control" in str(error)
        return
    matched = capacity.slot_parameters("conv", channels, {"inner_channels": width})
    assert abs(matched - target) <= 0.10 * target
    # The closest width: one channel more or less is no closer.
    for other in (width - 1, width + 1):
        if other >= 1:
            assert abs(capacity.slot_parameters("conv", channels, {"inner_channels": other}) - target) >= abs(
                matched - target
            )


def test_matching_uses_the_tested_blocks_options() -> None:
    # Reduction 2 widens a2b's branch-weight MLP by 420 parameters (63,280 in all): one more inner channel.
    assert capacity.matched_inner_channels("a2b", 40, {"reduction": 2}) == 114


def test_a_control_without_a_width_option_is_refused() -> None:
    with pytest.raises(capacity.CapacityMatchError, match="has no 'inner_channels' option"):
        capacity.matched_inner_channels("a2b", 40, control="pa")
