"""The SR protocol: MATLAB bicubic, image sources, Y-channel metrics, tiled inference, patch sampling."""

from __future__ import annotations

import numpy as np
import pytest
import skimage.color
import skimage.metrics
import torch
from PIL import Image
from torch import nn

from nas.core import networks
from nas.errors import InputError
from nas.sr import data, evaluate, metrics


def read_rgb(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_bicubic_reproduces_matlab_x4_for_every_set5_pixel(reference) -> None:
    hr_paths = sorted((reference / "set5" / "HR").glob("*.png"))
    assert len(hr_paths) == 5
    for hr_path in hr_paths:
        hr = data.modcrop(read_rgb(hr_path), 4)
        matlab = read_rgb(reference / "set5" / "LR_bicubic" / "X4" / f"{hr_path.stem}x4.png")
        np.testing.assert_array_equal(data.bicubic_downsample(hr, 4), matlab, err_msg=hr_path.stem)


def test_bicubic_keeps_a_constant_image_constant_and_rejects_bad_input() -> None:
    flat = np.full((12, 18, 3), 200, dtype=np.uint8)
    assert (data.bicubic_downsample(flat, 3) == 200).all()
    assert data.bicubic_downsample(flat, 3).shape == (4, 6, 3)
    with pytest.raises(ValueError, match="multiple"):
        data.bicubic_downsample(flat, 4)
    with pytest.raises(ValueError, match="uint8"):
        data.bicubic_downsample(flat.astype(np.float32), 3)


def random_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, hr.shape)
    return np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8), hr


@pytest.mark.parametrize("border", [2, 4])
def test_psnr_and_ssim_agree_with_scikit_image_on_y(border: int) -> None:
    sr, hr = random_pair(border)
    crop = (slice(border, -border), slice(border, -border))
    sr_y = skimage.color.rgb2ycbcr(sr)[..., 0][crop]
    hr_y = skimage.color.rgb2ycbcr(hr)[..., 0][crop]
    expected_psnr = skimage.metrics.peak_signal_noise_ratio(hr_y, sr_y, data_range=255)
    expected_ssim = skimage.metrics.structural_similarity(
        hr_y, sr_y, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert metrics.psnr(sr, hr, border) == pytest.approx(expected_psnr, abs=1e-9)
    assert metrics.ssim(sr, hr, border) == pytest.approx(expected_ssim, abs=1e-9)
    assert metrics.psnr(hr, hr, border) == float("inf")
    assert metrics.ssim(hr, hr, border) == pytest.approx(1.0)


def test_builtin_source_is_deterministic_rgb_and_split_without_overlap() -> None:
    train, val = data.builtin_images("train"), data.builtin_images("val")
    assert [i.name for i in train] == list(data.BUILTIN_TRAIN) and [i.name for i in val] == list(data.BUILTIN_VAL)
    assert not {i.name for i in train} & {i.name for i in val}
    train_bytes = {i.pixels.tobytes() for i in train}
    assert not any(i.pixels.tobytes() in train_bytes for i in val)
    for image in (*train, *val):
        assert image.pixels.dtype == np.uint8 and image.pixels.ndim == 3 and image.pixels.shape[2] == 3
    camera = next(i for i in train if i.name == "camera").pixels  # greyscale in scikit-image
    assert (camera[..., 0] == camera[..., 1]).all() and (camera[..., 1] == camera[..., 2]).all()
    data.builtin_images.cache_clear()
    assert all(np.array_equal(a.pixels, b.pixels) for a, b in zip(train, data.builtin_images("train"), strict=True))


def test_folder_source_converts_grey_and_rgba_and_names_images(tmp_path) -> None:
    Image.fromarray(np.full((8, 10), 77, np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(np.full((8, 10, 4), 9, np.uint8), "RGBA").save(tmp_path / "rgba.png")
    (tmp_path / "notes.txt").write_text("not an image")
    images = data.folder_images(tmp_path)
    assert [i.name for i in images] == ["grey", "rgba"]
    assert images[0].pixels.shape == (8, 10, 3) and (images[0].pixels == 77).all()
    assert images[1].pixels.shape == (8, 10, 3) and (images[1].pixels == 9).all()


def test_folder_source_errors_name_the_path(tmp_path) -> None:
    with pytest.raises(InputError, match="does not exist"):
        data.folder_images(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="holds no images"):
        data.folder_images(tmp_path / "empty")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    with pytest.raises(InputError, match=r"cannot read image .*bad\.png"):
        data.folder_images(broken)


def test_lr_folder_is_matched_by_name_and_checked_for_size(reference, tmp_path) -> None:
    hr_images = data.folder_images(reference / "set5" / "HR")
    pairs = data.evaluation_pairs(hr_images, 4, lr_folder=reference / "set5" / "LR_bicubic" / "X4")
    for pair in pairs:
        np.testing.assert_array_equal(pair.lr, data.bicubic_downsample(pair.hr, 4))
    with pytest.raises(InputError, match="expected"):
        data.evaluation_pairs(hr_images, 2, lr_folder=reference / "set5" / "LR_bicubic" / "X4")


def conv_only_network() -> nn.Module:
    torch.manual_seed(0)
    slots = [nn.Sequential(nn.Conv2d(16, 16, 3, padding=1), nn.LeakyReLU(0.2)) for _ in range(3)]
    return networks.SRNetwork(2, slots, channels=16, upsampler_channels=8).eval()


def test_tiled_inference_matches_whole_image_for_a_convolution_network() -> None:
    network = conv_only_network()
    lr = np.random.default_rng(0).integers(0, 256, (37, 50, 3), dtype=np.uint8)
    whole = evaluate.super_resolve(network, lr, 2)
    tiled = evaluate.super_resolve(network, lr, 2, tile=16, overlap=10)
    assert tiled.shape == whole.shape == (3, 74, 100)
    assert (tiled - whole).abs().max() < 1e-4
    # Without enough context the seams show: the comparison above can fail.
    assert (evaluate.super_resolve(network, lr, 2, tile=16, overlap=0) - whole).abs().max() > 1e-4


def find_patch(image: np.ndarray, patch: np.ndarray, step: int) -> set[tuple[int, int, int]]:
    """(transform, top, left) of every place where one of the 8 flips/rotations of ``patch`` sits in ``image``."""
    found = set()
    size = patch.shape[0]
    for transform in range(8):
        candidate = np.rot90(patch, k=transform % 4)
        candidate = candidate[:, ::-1] if transform >= 4 else candidate
        for top in range(0, image.shape[0] - size + 1, step):
            for left in range(0, image.shape[1] - size + 1, step):
                if np.array_equal(image[top : top + size, left : left + size], candidate):
                    found.add((transform, top // step, left // step))
    return found


def test_patch_sampler_cuts_aligned_augmented_patches_and_is_seeded() -> None:
    hr = np.random.default_rng(3).integers(0, 256, (24, 30, 3), dtype=np.uint8)
    lr = data.bicubic_downsample(hr, 2)
    pairs = data.evaluation_pairs([data.NamedImage("noise", hr)], 2)
    sampler = data.PatchSampler(pairs, scale=2, patch_size=5, device="cpu", seed=7)
    lr_batch, hr_batch = sampler.sample(24)
    assert lr_batch.shape == (24, 3, 5, 5) and hr_batch.shape == (24, 3, 10, 10)
    assert all(batch.is_contiguous(memory_format=torch.channels_last) for batch in (lr_batch, hr_batch))
    transforms = set()
    for lr_patch, hr_patch in zip(lr_batch, hr_batch, strict=True):
        lr_u8 = (lr_patch * 255).round().byte().permute(1, 2, 0).numpy()
        hr_u8 = (hr_patch * 255).round().byte().permute(1, 2, 0).numpy()
        lr_places, hr_places = find_patch(lr, lr_u8, 1), find_patch(hr, hr_u8, 2)
        assert lr_places and lr_places == hr_places  # same position and transform in LR and HR
        transforms |= {place[0] for place in lr_places}
    assert len(transforms) >= 4  # flips and rotations are drawn
    again = data.PatchSampler(pairs, scale=2, patch_size=5, device="cpu", seed=7)
    assert torch.equal(again.sample(24)[0], lr_batch)


def test_patch_sampler_rejects_images_smaller_than_a_patch() -> None:
    tiny = data.NamedImage("tiny", np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(InputError, match="patch_size"):
        data.PatchSampler(data.evaluation_pairs([tiny], 2), scale=2, patch_size=8, device="cpu", seed=0)
