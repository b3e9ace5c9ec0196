"""PSNR and SSIM on the Y channel, as SR papers compute them (see ``nas.sr.protocol``).

Pure functions of two uint8 RGB images; all arithmetic in float64.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from nas.sr import protocol


def rgb_to_y(image: np.ndarray, y: str = protocol.Y_FLOAT) -> np.ndarray:
    """Y of BT.601 studio range (16..235), in float64, from an H×W×3 uint8 RGB image.

    With ``y="float"`` (the default) Y is not rounded: SR tables (A2N's 38.06 dB on Set5 ×2 among them) were
    computed on float Y. ``y="uint8"`` rounds it half away from zero, as MATLAB's rgb2ycbcr does for uint8
    input (RCAN's scripts); that lowers A2N's number by 0.085 dB.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} of shape {image.shape}")
    if y not in protocol.Y_MODES:
        raise ValueError(f"unknown Y mode {y!r}; expected one of {', '.join(protocol.Y_MODES)}")
    weights = np.asarray(protocol.Y_WEIGHTS, dtype=np.float64) / 255.0
    luma = image.astype(np.float64) @ weights + protocol.Y_OFFSET
    # Y lies in 16..235, so half away from zero is floor(x + 0.5).
    return np.floor(luma + 0.5) if y == protocol.Y_UINT8 else luma


def _y_without_border(
    sr: np.ndarray, hr: np.ndarray, border: int, y: str = protocol.Y_FLOAT
) -> tuple[np.ndarray, np.ndarray]:
    if sr.shape != hr.shape:
        raise ValueError(f"SR {sr.shape} and HR {hr.shape} images differ in shape")
    height, width = hr.shape[:2]
    if height <= 2 * border or width <= 2 * border:
        raise ValueError(f"image of {height}×{width} is too small for a border of {border}")
    crop = (slice(border, height - border), slice(border, width - border))
    return rgb_to_y(sr, y)[crop], rgb_to_y(hr, y)[crop]


def psnr(sr: np.ndarray, hr: np.ndarray, border: int, y: str = protocol.Y_FLOAT) -> float:
    """PSNR in dB on Y (``y``: float or uint8, see ``rgb_to_y``) after dropping ``border`` pixels on every side;
    inf for identical images."""
    sr_y, hr_y = _y_without_border(sr, hr, border, y)
    mse = np.mean((sr_y - hr_y) ** 2)
    return float("inf") if mse == 0 else float(10.0 * np.log10(protocol.PEAK**2 / mse))


def _gaussian_window() -> torch.Tensor:
    offsets = torch.arange(protocol.SSIM_WINDOW, dtype=torch.float64) - (protocol.SSIM_WINDOW - 1) / 2
    line = torch.exp(-(offsets**2) / (2 * protocol.SSIM_SIGMA**2))
    line /= line.sum()
    return torch.outer(line, line)[None, None]


def ssim(sr: np.ndarray, hr: np.ndarray, border: int, y: str = protocol.Y_FLOAT) -> float:
    """Mean SSIM on Y (Gaussian window, valid region; ``y`` as in ``psnr``) after dropping ``border`` pixels on
    every side."""
    sr_y, hr_y = _y_without_border(sr, hr, border, y)
    # x_t, y_t: the two images as tensors (``y`` names the Y conversion)
    x_t = torch.from_numpy(sr_y)[None, None]
    y_t = torch.from_numpy(hr_y)[None, None]
    window = _gaussian_window()

    def blur(image: torch.Tensor) -> torch.Tensor:
        return F.conv2d(image, window)

    c1 = (protocol.SSIM_K1 * protocol.PEAK) ** 2
    c2 = (protocol.SSIM_K2 * protocol.PEAK) ** 2
    mu_x, mu_y = blur(x_t), blur(y_t)
    var_x = blur(x_t * x_t) - mu_x**2
    var_y = blur(y_t * y_t) - mu_y**2
    cov = blur(x_t * y_t) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return float(ssim_map.mean())
