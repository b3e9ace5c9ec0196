"""Images of more than 8 bits are converted to 8 bits by their range, never clipped, or refused with a message."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nas.errors import InputError
from nas.sr import data


def png_16bit_rgb(path: Path, pixels: np.ndarray) -> None:
    """A 16-bit RGB PNG written byte by byte (Pillow cannot write one): filter 0 on every row."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\x00" + pixels[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


def read_only_image(folder: Path) -> np.ndarray:
    (image,) = data.folder_images(folder)
    return image.pixels


def test_a_16_bit_greyscale_png_is_scaled_to_8_bits_with_rounding(tmp_path: Path) -> None:
    # Values around the rounding boundaries (v / 257 = k ± 0.002) and a full ramp.
    edges = np.array([0, 128, 129, 257, 385, 386, 32767, 32896, 65278, 65279, 65535], dtype=np.uint16)
    ramp = np.linspace(0, 65535, 64 * 64 - edges.size).round().astype(np.uint16)
    values = np.concatenate([edges, ramp]).reshape(64, 64)
    Image.fromarray(values).save(tmp_path / "deep.png")
    assert Image.open(tmp_path / "deep.png").mode == "I;16"  # really a 16-bit file
    pixels = read_only_image(tmp_path)
    assert pixels.dtype == np.uint8 and pixels.shape == (64, 64, 3)
    assert (pixels[..., 0] == pixels[..., 2]).all()
    assert pixels[0, : edges.size, 0].tolist() == [0, 0, 1, 1, 1, 2, 127, 128, 254, 254, 255]
    np.testing.assert_array_equal(pixels[..., 0], np.floor(values / 257 + 0.5).astype(np.uint8))
    # Clipping, the old behaviour, left 99.6 % of this ramp white; scaled, its mean is mid-grey.
    assert abs(pixels.mean() - 127.5) < 0.5 and (pixels == 255).mean() < 0.01


def test_a_16_bit_colour_png_keeps_each_sample_within_one_level_of_rounding(tmp_path: Path) -> None:
    values = np.random.default_rng(0).integers(0, 65536, size=(16, 16, 3), dtype=np.uint16)
    png_16bit_rgb(tmp_path / "colour.png", values)
    pixels = read_only_image(tmp_path).astype(int)
    np.testing.assert_array_equal(pixels, values >> 8)  # Pillow keeps the high byte
    assert np.abs(pixels - np.round(values / 257)).max() <= 1


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.array([[0, 70000]], dtype=np.int32), "integers from 0 to 70000, beyond 16 bits"),
        (np.array([[0.0, 0.5]], dtype=np.float32), "floating-point pixels"),
    ],
    ids=["32-bit-integers", "floats"],
)
def test_deeper_images_are_refused_with_a_message(tmp_path: Path, array: np.ndarray, message: str) -> None:
    Image.fromarray(array).save(tmp_path / "deep.tif")
    with pytest.raises(InputError, match=message):
        data.folder_images(tmp_path)
