"""The Y-rounding option of the SR protocol and the bicubic floor, against published Set5 numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nas.core import genotypes, networks
from nas.sr import data, evaluate, metrics, protocol, weight_files
from nas.sr.bicubic import bicubic_upsample


@pytest.fixture(scope="module")
def set5_x2(reference) -> list[data.ImagePair]:
    return data.evaluation_pairs(data.folder_images(reference / "set5" / "HR"), 2)


def test_uint8_y_is_rounded_and_float_y_is_not() -> None:
    image = np.random.default_rng(0).integers(0, 256, (9, 11, 3), dtype=np.uint8)
    as_float = metrics.rgb_to_y(image)
    as_uint8 = metrics.rgb_to_y(image, protocol.Y_UINT8)
    assert np.abs(as_float - np.round(as_float)).max() > 0.1  # float Y keeps its fractions
    np.testing.assert_array_equal(as_uint8, np.floor(as_float + 0.5))
    assert as_uint8.min() >= 16 and as_uint8.max() <= 235
    with pytest.raises(ValueError, match="unknown Y mode 'int'"):
        metrics.rgb_to_y(image, "int")


@pytest.mark.slow
def test_a2n_uint8_y_reads_0_085_db_below_float_y_on_set5_x2(reference, set5_x2) -> None:
    network = networks.build(genotypes.a2n(2), input_range=255.0).eval()
    weights = reference / "a2n" / "a2n_x2_official.pt"
    weight_files.load_exactly(network, networks.from_official_keys(weight_files.read_state_dict(weights)), weights)
    outputs = [evaluate.to_uint8_image(evaluate.super_resolve(network, pair.lr, 2)) for pair in set5_x2]  # once
    by_y = {y: np.mean([metrics.psnr(sr, pair.hr, 2, y) for sr, pair in zip(outputs, set5_x2, strict=True)])
            for y in protocol.Y_MODES}  # fmt: skip
    assert by_y[protocol.Y_FLOAT] == pytest.approx(38.06, abs=0.005)  # A2N's published Set5 ×2
    assert by_y[protocol.Y_FLOAT] - by_y[protocol.Y_UINT8] == pytest.approx(0.085, abs=0.005)


def test_evaluate_scores_and_records_the_y_mode_it_was_given() -> None:
    torch.manual_seed(0)
    network = networks.SRNetwork(2, [], channels=8, upsampler_channels=4)
    pairs = data.evaluation_pairs([data.builtin_images("val")[0]], 2)
    by_y = {y: evaluate.evaluate(network, pairs, 2, y=y) for y in protocol.Y_MODES}
    assert by_y[protocol.Y_FLOAT].mean_psnr != by_y[protocol.Y_UINT8].mean_psnr
    assert by_y[protocol.Y_UINT8].to_json()["protocol"]["channel"].startswith("Y (BT.601 studio range, rounded")
    assert "not rounded" in by_y[protocol.Y_FLOAT].to_json()["protocol"]["channel"]


@pytest.mark.slow
def test_bicubic_floor_matches_the_bicubic_row_of_sr_tables(reference, set5_x2) -> None:
    # SR tables' "Bicubic" row, Set5: 33.66 dB / 0.9299 at ×2, 28.42 dB / 0.8104 at ×4.
    for y in protocol.Y_MODES:
        x2 = evaluate.bicubic_floor(set5_x2, 2, y)
        assert x2.mean_psnr == pytest.approx(33.66, abs=0.03) and x2.mean_ssim == pytest.approx(0.9299, abs=0.001)
    x4 = evaluate.bicubic_floor(data.evaluation_pairs(data.folder_images(reference / "set5" / "HR"), 4), 4)
    assert x4.mean_psnr == pytest.approx(28.42, abs=0.02) and x4.mean_ssim == pytest.approx(0.8104, abs=0.001)


def test_bicubic_upsample_keeps_a_constant_image_constant_and_rejects_bad_input() -> None:
    flat = np.full((5, 7, 3), 90, dtype=np.uint8)
    up = bicubic_upsample(flat, 3)
    assert up.shape == (15, 21, 3) and (up == 90).all()
    with pytest.raises(ValueError, match="uint8"):
        bicubic_upsample(flat.astype(np.float32), 2)
