"""What an ablation found (``nas.trained.ablation.ablate``): the modes and what each removes, each depth's and
group's effect per image, the depths and groups a mode cannot switch, and the whole as JSON and as text (``nas
ablate``). The statistics of each effect are ``nas.trained.ablation_statistics``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nas.json_values import jsonable
from nas.sr import evaluate, protocol
from nas.trained.ablation_statistics import (
    DATASET_PSNR,
    FAMILY_CONFIDENCE,
    INTERVAL_METHOD,
    MeanInterval,
    dataset_psnr,
    directions,
    directions_text,
    per_interval_level,
    simultaneous_interval,
)

GATE_MEAN = "gate-mean"
MODES = ("remove", "renormalise", GATE_MEAN)
MODE_MEANINGS = {
    "remove": "branch removal: a2b's attention branch (convolutions and gate) weighted 0, the other branch keeps "
    "its ADM weight; other blocks' attention module made the identity",
    "renormalise": "branch removal: a2b's attention branch weighted 0 and the other branch 1; other blocks' "
    "attention module made the identity",
    GATE_MEAN: "spatial selectivity removed: each declared attention gate replaced by its spatial mean per image "
    "and channel; the branch, its convolutions and the mean gate level kept",
}


@dataclass(frozen=True)
class AblationEffect:
    """Switching off the attention of ``depths`` in ``mode``: ablated minus baseline, per image.

    ``switched`` are the depths the mode acted on: ``depths`` less those it skips (``gate-mean`` in a group that
    holds a block without a spatial map).
    """

    depths: tuple[int, ...]
    mode: str
    switched: tuple[int, ...]
    delta_psnr: np.ndarray
    delta_ssim: np.ndarray
    delta_dataset_psnr: float

    @property
    def label(self) -> str:
        return depths_label(self.depths)

    def to_json(self, names: Sequence[str], family_size: int) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "switched": list(self.switched),
            "delta_psnr": float(self.delta_psnr.mean()),
            "interval": simultaneous_interval(self.delta_psnr, family_size).to_json(),
            "images_moved": directions(self.delta_psnr),
            "delta_dataset_psnr": self.delta_dataset_psnr,
            "delta_ssim": float(self.delta_ssim.mean()),
            "interval_ssim": simultaneous_interval(self.delta_ssim, family_size).to_json(),
            "images": [
                {"name": name, "delta_psnr": float(p), "delta_ssim": float(s)}
                for name, p, s in zip(names, self.delta_psnr, self.delta_ssim, strict=True)
            ],
        }


@dataclass(frozen=True)
class SkippedEffect:
    """A depth or group (``kind``) that ``mode`` cannot switch, and why."""

    kind: str
    depths: tuple[int, ...]
    mode: str
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "depths": list(self.depths), "mode": self.mode, "reason": self.reason}

    def to_text(self) -> str:
        return f"skipped {self.kind} {depths_label(self.depths)}: {self.reason}"


def depths_label(depths: tuple[int, ...]) -> str:
    """``7`` for one depth, ``0-3`` for a run of depths, ``1+5+9`` otherwise."""
    first, last = depths[0], depths[-1]
    if len(depths) == 1:
        return str(first)
    if depths == tuple(range(first, last + 1)):
        return f"{first}-{last}"
    return "+".join(map(str, depths))


@dataclass(frozen=True)
class Ablation:
    """The baseline scores of a network and the effect of switching its attention off, per depth and group."""

    network: str  # genotype and source, for labels
    blocks: tuple[str, ...]  # the block at each depth
    baseline: evaluate.EvaluationResult
    modes: tuple[str, ...]
    depths: list[AblationEffect]  # one per attention depth and mode that switches it
    groups: list[AblationEffect]  # one per group and mode; the last group holds every attention depth
    skipped: list[SkippedEffect]  # the depths and groups a mode cannot switch
    attention_weights: dict[int, np.ndarray]  # a2b depth → the ADM's attention-branch weight on each image

    @property
    def names(self) -> list[str]:
        return [score.name for score in self.baseline.images]

    @property
    def baseline_dataset_psnr(self) -> float:
        return dataset_psnr([score.psnr for score in self.baseline.images])

    def family_size(self, mode: str) -> int:
        """The number of depth and group effects reported for ``mode``: its Bonferroni family."""
        return sum(effect.mode == mode for effect in self.depths + self.groups)

    def interval(self, effect: AblationEffect) -> MeanInterval:
        """The ΔPSNR interval of ``effect`` within its mode's family."""
        return simultaneous_interval(effect.delta_psnr, self.family_size(effect.mode))

    def weight_summary(self, depth: int) -> dict[str, Any] | None:
        """Mean, standard deviation, range and per-image values of the ADM weight at ``depth`` (None: not a2b)."""
        if depth not in self.attention_weights:
            return None
        values = self.attention_weights[depth]
        return {
            "mean": float(values.mean()),
            "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
            "min": float(values.min()),
            "max": float(values.max()),
            "images": [float(v) for v in values],
        }

    def to_json(self) -> dict[str, Any]:
        return jsonable(
            {
                "network": self.network,
                "baseline": self.baseline.to_json(),
                "dataset_psnr": {"baseline": self.baseline_dataset_psnr, "definition": DATASET_PSNR},
                "modes": list(self.modes),
                "mode_meanings": {mode: MODE_MEANINGS[mode] for mode in self.modes},
                "depths": [
                    {
                        "depth": effect.depths[0],
                        "block": self.blocks[effect.depths[0]],
                        **effect.to_json(self.names, self.family_size(effect.mode)),
                        "attention_weight": self.weight_summary(effect.depths[0]),
                    }
                    for effect in self.depths
                ],
                "groups": [
                    {
                        "group": effect.label,
                        "depths": list(effect.depths),
                        **effect.to_json(self.names, self.family_size(effect.mode)),
                    }
                    for effect in self.groups
                ],
                "skipped": [skip.to_json() for skip in self.skipped],
                "interval_method": INTERVAL_METHOD,
                "interval_families": [
                    {
                        "mode": mode,
                        "effects": self.family_size(mode),
                        "per_interval_level": per_interval_level(self.family_size(mode))
                        if self.family_size(mode)
                        else None,
                        "family_level": FAMILY_CONFIDENCE,
                    }
                    for mode in self.modes
                ],
                "protocol": protocol.describe(self.baseline.scale),
            }
        )

    def to_text(self) -> str:
        """The ablation as text: per mode what it removes, its interval family, then one row per depth and group."""
        baseline = self.baseline
        lines = [
            f"{self.network}: baseline mean {baseline.mean_psnr:.3f} dB / {baseline.mean_ssim:.4f} over "
            f"{len(baseline.images)} images (Y, border {baseline.scale}); dataset PSNR {self.baseline_dataset_psnr:.3f}"
            " dB",
            "Δ = attention switched off − baseline. ΔPSNR, ΔSSIM: mean over images (= change of the mean PSNR) "
            f"[interval]; images: how many moved each way; Δdataset: change of the {DATASET_PSNR}",
            f"intervals: {INTERVAL_METHOD}",
            "ADM w_att: the attention branch's ADM weight, mean ± standard deviation over images (a2b only)",
        ]
        for mode in self.modes:
            lines += ["", *self._mode_text(mode)]
        return "\n".join(lines)

    def _mode_text(self, mode: str) -> list[str]:
        size = self.family_size(mode)
        family = (
            f"{size} effects, each interval at {per_interval_level(size):.2%}, {FAMILY_CONFIDENCE:.0%} together"
            if size
            else "no effect to report"
        )
        lines = [
            f"{mode}: {MODE_MEANINGS[mode]}",
            f"family: {family}",
            f"{'depth':>11} {'block':<8} {'ADM w_att':>14}  {'ΔPSNR dB [interval]':<26} {'images':<25} "
            f"{'Δdataset':>8}  ΔSSIM [interval]",
        ]
        rows = [(e, False) for e in self.depths if e.mode == mode] + [(e, True) for e in self.groups if e.mode == mode]
        missing = []
        for effect, is_group in rows:
            psnr = self.interval(effect)
            ssim = simultaneous_interval(effect.delta_ssim, size)
            depth = effect.depths[0]
            weight = None if is_group else self.weight_summary(depth)
            adm = f"{weight['mean']:.3f} ± {weight['std']:.3f}" if weight else "-"
            head = (
                f"{'group ' + effect.label:>11} {'':<8} {'':>14}"
                if is_group
                else f"{depth:>11} {self.blocks[depth]:<8} {adm:>14}"
            )
            lines.append(
                f"{head}  {psnr.to_text(3):<26} {directions_text(effect.delta_psnr):<25} "
                f"{effect.delta_dataset_psnr:+8.3f}  {ssim.to_text(4)}"
            )
            missing += [
                f"{effect.label} {metric}: {i.reason}" for metric, i in (("ΔPSNR", psnr), ("ΔSSIM", ssim)) if i.reason
            ]
        lines += [f"no interval for {line}" for line in missing]
        lines += [skip.to_text() for skip in self.skipped if skip.mode == mode]
        return lines
