"""The statistics of an ablation's effects: how sure the mean of per-image deltas is, and how the images moved.

Each depth and each group of depths is reported per mode as ablated minus baseline per image (ΔPSNR, ΔSSIM:
negative means the network needs what the mode removed), with:

- the mean over images, which is also the change of the mean PSNR over images, and a Student-t interval for it
  over images (``scipy.stats.t``, n − 1 degrees of freedom, standard error from the per-image deltas, paired by
  image), Bonferroni-adjusted so that the intervals of one mode hold together at ``FAMILY_CONFIDENCE`` over every
  depth and group effect reported for that mode (each metric its own family; modes are not adjusted across). It
  assumes the per-image deltas are roughly normal; with 5 images a skewed spread makes it optimistic. Fewer than
  two images, or deltas identical on every image, give no interval and say why;
- how many images moved each way;
- the change of the dataset PSNR: the PSNR of the mean per-image MSE (each image weighted equally), which weighs
  the images the model does worst on most, where the mean PSNR weighs every image's dB alike.

The intervals say how stable the mean is over these images, nothing about other images, networks or retraining.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

FAMILY_CONFIDENCE = 0.95  # simultaneous over the effects of one mode
INTERVAL_METHOD = (
    "Student-t interval of the mean over images (scipy.stats.t, n − 1 degrees of freedom, paired by image), "
    f"Bonferroni-adjusted to {FAMILY_CONFIDENCE:.0%} simultaneous over the depth and group effects of one mode: "
    f"each interval at 1 − {1 - FAMILY_CONFIDENCE:.2f}/m for a mode with m effects, ΔPSNR and ΔSSIM each their own "
    "family, no adjustment across modes"
)
DATASET_PSNR = "PSNR of the mean per-image MSE over images (each image weighted equally; Y, border as per image)"


@dataclass(frozen=True)
class MeanInterval:
    """The mean of per-image deltas and its interval at ``level``; no ends where none exists (``reason``)."""

    mean: float
    low: float | None
    high: float | None
    level: float
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"low": self.low, "high": self.high, "level": self.level, "reason": self.reason}

    def to_text(self, digits: int) -> str:
        if self.low is None or self.high is None:
            return f"{self.mean:+.{digits}f} [no interval]"
        return f"{self.mean:+.{digits}f} [{self.low:+.{digits}f}, {self.high:+.{digits}f}]"


def per_interval_level(family_size: int) -> float:
    """The level of each of ``family_size`` Bonferroni intervals that hold together at ``FAMILY_CONFIDENCE``."""
    return 1 - (1 - FAMILY_CONFIDENCE) / family_size


def simultaneous_interval(deltas: np.ndarray, family_size: int) -> MeanInterval:
    """The Student-t interval of the mean of per-image ``deltas``, one of ``family_size`` Bonferroni intervals.

    Fewer than two images leave no spread to estimate, and deltas identical on every image (a switch that changes
    every image alike, usually not at all) a zero standard error: neither gets an interval, each says why.
    """
    mean = float(np.mean(deltas))
    level = per_interval_level(family_size)
    if len(deltas) < 2:
        return MeanInterval(mean, None, None, level, "fewer than two images: no spread over images to estimate")
    if np.ptp(deltas) == 0:
        return MeanInterval(mean, None, None, level, "the same delta on every image: zero spread, no t-interval")
    low, high = stats.t.interval(level, len(deltas) - 1, loc=mean, scale=stats.sem(deltas))
    return MeanInterval(mean, float(low), float(high), level)


def directions(deltas: np.ndarray) -> dict[str, int]:
    """How many images went down, up, or stayed exactly the same."""
    return {
        "lower": int(np.sum(deltas < 0)),
        "higher": int(np.sum(deltas > 0)),
        "unchanged": int(np.sum(deltas == 0)),
    }


def directions_text(deltas: np.ndarray) -> str:
    """``5/5 lower`` when every image moved one way, else e.g. ``3 lower, 1 higher, 1 same``."""
    moved = directions(deltas)
    for way in ("lower", "higher"):
        if moved[way] == len(deltas):
            return f"{moved[way]}/{len(deltas)} {way}"
    counts = [f"{moved['lower']} lower", f"{moved['higher']} higher"]
    return ", ".join(counts + ([f"{moved['unchanged']} same"] if moved["unchanged"] else []))


def dataset_psnr(psnrs: Sequence[float]) -> float:
    """The PSNR of the mean per-image MSE (``DATASET_PSNR``), from the per-image PSNRs.

    An image's MSE is peak² · 10^(−PSNR/10), so the peak cancels: −10 · log10(mean over images of 10^(−PSNR/10)).
    """
    return float(-10.0 * np.log10(np.mean(np.power(10.0, -np.asarray(psnrs, dtype=np.float64) / 10.0))))
