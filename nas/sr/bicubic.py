"""MATLAB-exact bicubic resizing: downsampling makes the LR images of SR benchmarks, upsampling is their floor.

PIL, OpenCV and ``torch.nn.functional.interpolate`` all differ from MATLAB's ``imresize``: none widens the
cubic kernel when downsampling (antialiasing) in the same way, they pad differently at the borders, and they
do not round to uint8 between the two passes. Published SR numbers are computed on MATLAB-made LR images, so
a different resize shifts PSNR by tenths of a dB. This port follows MATLAB's ``contributions``: Keys cubic
(a = -0.5) stretched by the scale, symmetric (mirror) index padding, weights normalised per output pixel, the
height pass first, and rounding half away from zero to uint8 after each pass.
"""

from __future__ import annotations

import math

import numpy as np


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5."""
    ax = np.abs(x)
    ax2, ax3 = ax * ax, ax * ax * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


def _contributions(in_length: int, out_length: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Per output pixel, the input indices (0-based, mirrored) and normalised weights, as MATLAB computes them."""
    kernel_width = 4.0
    if scale < 1:  # antialiasing: the kernel is stretched to cover 1/scale input pixels per output pixel
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - kernel_width / 2.0)
    taps = math.ceil(kernel_width) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * _cubic(scale * distance) if scale < 1 else _cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    mirrored = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirrored[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)  # MATLAB drops taps that are zero for every output pixel
    return indices[:, used], weights[:, used]


def _round_to_uint8(x: np.ndarray) -> np.ndarray:
    # Values are >= 0 after clipping, where half away from zero is floor(x + 0.5).
    return np.floor(np.clip(x, 0.0, 255.0) + 0.5).astype(np.uint8)


def _resize_axis(image: np.ndarray, axis: int, out_length: int, scale: float) -> np.ndarray:
    indices, weights = _contributions(image.shape[axis], out_length, scale)
    source = np.moveaxis(image, axis, 0).astype(np.float64)
    result = np.zeros((out_length, *source.shape[1:]), dtype=np.float64)
    for tap in range(indices.shape[1]):  # a handful of taps, each one vectorised over the whole image
        result += weights[:, tap].reshape(-1, *([1] * (source.ndim - 1))) * source[indices[:, tap]]
    return np.moveaxis(_round_to_uint8(result), 0, axis)


def bicubic_downsample(hr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(hr, 1/scale, 'bicubic')`` for a uint8 image, pixel for pixel.

    Args:
        hr: H×W×3 (or H×W) uint8 image with H and W divisible by ``scale``.
        scale: Integer downscaling factor.

    Returns:
        The (H/scale)×(W/scale) uint8 image.

    Raises:
        ValueError: the image is not uint8 or its size does not divide by ``scale``.
    """
    if hr.dtype != np.uint8:
        raise ValueError(f"bicubic_downsample expects a uint8 image, got {hr.dtype}")
    height, width = hr.shape[:2]
    if scale < 1 or height % scale or width % scale:
        raise ValueError(f"image of {height}×{width} cannot be downsampled by {scale}: crop it to a multiple first")
    ratio = 1.0 / scale
    rows_done = _resize_axis(hr, 0, height // scale, ratio)
    return _resize_axis(rows_done, 1, width // scale, ratio)


def bicubic_upsample(lr: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB ``imresize(lr, scale, 'bicubic')`` for a uint8 image: the "Bicubic" row of SR tables.

    Args:
        lr: H×W×3 (or H×W) uint8 image.
        scale: Integer upscaling factor.

    Returns:
        The (H·scale)×(W·scale) uint8 image.

    Raises:
        ValueError: the image is not uint8 or the scale is below 1.
    """
    if lr.dtype != np.uint8:
        raise ValueError(f"bicubic_upsample expects a uint8 image, got {lr.dtype}")
    if scale < 1:
        raise ValueError(f"bicubic_upsample needs a scale of at least 1, got {scale}")
    height, width = lr.shape[:2]
    rows_done = _resize_axis(lr, 0, height * scale, float(scale))
    return _resize_axis(rows_done, 1, width * scale, float(scale))
