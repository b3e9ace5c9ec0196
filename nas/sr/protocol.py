"""The SR evaluation protocol used by SR paper tables; every metric and cost in the harness follows it.

| step      | rule                                                                                        |
|-----------|---------------------------------------------------------------------------------------------|
| HR        | crop so that height and width divide by the scale                                           |
| LR        | MATLAB ``imresize(HR, 1/s, 'bicubic')`` on uint8 (see ``nas.sr.data.bicubic_downsample``)       |
| SR output | clamp to [0, 1], round to uint8 before any metric                                           |
| colour    | Y of BT.601 studio range from 0..255 RGB, kept in float64 (``y="float"``, the default) or     |
|           | rounded to uint8 first (``y="uint8"``, as RCAN's MATLAB ``Cal_Y_PSNRSSIM``)                 |
| border    | drop ``scale`` pixels on every side                                                         |
| size      | HR sides after the crop >= ``min_hr_size(scale)``: an SSIM window inside the border         |
| PSNR      | float64, 10·log10(255² / MSE)                                                               |
| SSIM      | Gaussian window 11, sigma 1.5, K1 = 0.01, K2 = 0.03, L = 255, valid region, mean            |
| cost      | MACs (one multiply-add = 1) for a 1280×720 HR output                                        |
"""

from __future__ import annotations

Y_OFFSET = 16.0
Y_WEIGHTS = (65.481, 128.553, 24.966)  # applied to R, G, B in 0..255, divided by 255

PEAK = 255.0
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# How Y is kept before PSNR/SSIM. "float": BasicSR's convention, which reproduces A2N's published 38.06 dB on
# Set5 ×2. "uint8": Y rounded to uint8 first, as MATLAB's rgb2ycbcr does for uint8 images (RCAN's scripts);
# about 0.085 dB lower on that benchmark.
Y_FLOAT = "float"
Y_UINT8 = "uint8"
Y_MODES = (Y_FLOAT, Y_UINT8)
Y_DESCRIPTIONS = {
    Y_FLOAT: "Y (BT.601 studio range, float64, not rounded; BasicSR convention)",
    Y_UINT8: "Y (BT.601 studio range, rounded to uint8 before PSNR/SSIM; MATLAB Cal_Y_PSNRSSIM convention)",
}

SUPPORTED_SCALES = (2, 3, 4)  # the upscaling factors the harness builds networks for (the SR tables' ×2, ×3, ×4)

BUILTIN = "builtin"  # the image source that ships inside scikit-image (no download)

COST_HR_SIZE = (720, 1280)  # height, width of the HR output that MACs are counted for
COST_HR_OUTPUT = f"{COST_HR_SIZE[1]}×{COST_HR_SIZE[0]} HR output"  # how reports name it


def min_hr_size(scale: int) -> int:
    """The smallest HR side (after the crop to a multiple of ``scale``) that the protocol scores: one SSIM window
    inside the ``scale``-pixel border. Every command that scores or analyses images holds them to it."""
    return SSIM_WINDOW + 2 * scale


def describe(scale: int, y: str = Y_FLOAT) -> dict[str, object]:
    """The protocol as a JSON-ready record, stored beside every reported number (``y``: one of ``Y_MODES``)."""
    return {
        "lr": "MATLAB imresize bicubic (antialiased, uint8 after each pass)",
        "output": "clamped to [0,1], rounded to uint8",
        "channel": Y_DESCRIPTIONS[y],
        "border": scale,
        "psnr": "float64, peak 255",
        "ssim": {"window": SSIM_WINDOW, "sigma": SSIM_SIGMA, "k1": SSIM_K1, "k2": SSIM_K2, "region": "valid"},
    }
