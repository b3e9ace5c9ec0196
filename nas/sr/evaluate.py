"""Evaluating an SR network on a set of images with the protocol of ``nas.sr.protocol``."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from nas.errors import InputError
from nas.sr import data, metrics, protocol
from nas.sr.bicubic import bicubic_upsample
from nas.sr.data import ImagePair, NamedImage

logger = logging.getLogger(__name__)

DEFAULT_TILE_OVERLAP = 32  # LR pixels of context on each side of a tile: covers an A2N-sized receptive field


@dataclass(frozen=True)
class ImageScore:
    name: str
    psnr: float
    ssim: float


@dataclass(frozen=True)
class EvaluationResult:
    """Per-image and mean PSNR/SSIM of one network on one image set."""

    images: list[ImageScore]
    scale: int
    y: str = protocol.Y_FLOAT  # how Y was kept (``protocol.Y_MODES``)

    @property
    def mean_psnr(self) -> float:
        return float(np.mean([s.psnr for s in self.images]))

    @property
    def mean_ssim(self) -> float:
        return float(np.mean([s.ssim for s in self.images]))

    def to_text(self, title: str) -> str:
        """One row per image and their mean, under ``title`` (what was evaluated on which images)."""
        width = max(len(score.name) for score in self.images)
        rows = [f"{score.name.ljust(width)}  {score.psnr:7.3f}  {score.ssim:.4f}" for score in self.images]
        header = f"{'image'.ljust(width)}  {'PSNR':>7}  {'SSIM':>6}"
        return "\n".join([title, header, *rows, f"{'mean'.ljust(width)}  {self.mean_psnr:7.3f}  {self.mean_ssim:.4f}"])

    def to_json(self) -> dict:
        return {
            "images": [asdict(s) for s in self.images],
            "mean": {"psnr": self.mean_psnr, "ssim": self.mean_ssim},
            "scale": self.scale,
            "protocol": protocol.describe(self.scale, self.y),
        }


@torch.no_grad()
def super_resolve(
    model: nn.Module,
    lr: np.ndarray,
    scale: int,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    overlap: int = DEFAULT_TILE_OVERLAP,
) -> torch.Tensor:
    """The network's float output (3×sH×sW, unclamped) for an H×W×3 uint8 LR image.

    With ``tile``, the LR image is cut into tile×tile cores, each run with ``overlap`` pixels of context on
    every side, and only the cores' outputs are kept: for a convolution-only network whose receptive field
    fits in the overlap this equals whole-image inference, at a fraction of the memory.
    """
    x = torch.from_numpy(np.ascontiguousarray(lr.transpose(2, 0, 1))).float().div(255.0)[None].to(device)
    if tile is None:
        return model(x)[0].float().cpu()
    height, width = x.shape[-2:]
    out = torch.empty(3, height * scale, width * scale)
    for top in range(0, height, tile):
        for left in range(0, width, tile):
            bottom, right = min(top + tile, height), min(left + tile, width)
            ctx_top, ctx_left = max(0, top - overlap), max(0, left - overlap)
            ctx_bottom, ctx_right = min(height, bottom + overlap), min(width, right + overlap)
            patch = model(x[:, :, ctx_top:ctx_bottom, ctx_left:ctx_right])[0].float().cpu()
            core = patch[
                :,
                (top - ctx_top) * scale : (bottom - ctx_top) * scale,
                (left - ctx_left) * scale : (right - ctx_left) * scale,
            ]
            out[:, top * scale : bottom * scale, left * scale : right * scale] = core
    return out


def to_uint8_image(sr: torch.Tensor) -> np.ndarray:
    """3×H×W float in [0, 1] (clamped) → H×W×3 uint8, rounded as the protocol requires."""
    return sr.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


@dataclass(frozen=True)
class RefusedImage:
    """An image left out of an evaluation or analysis, and why."""

    name: str
    reason: str


def _too_small(height: int, width: int, scale: int) -> str | None:
    """Why an image of ``height``×``width`` HR pixels cannot be scored at ``scale`` (None: it can)."""
    smallest = protocol.min_hr_size(scale)
    cropped = (height - height % scale, width - width % scale)
    if min(cropped) >= smallest:
        return None
    size = f"{width}×{height}" + (f" ({cropped[1]}×{cropped[0]} HR" if cropped != (height, width) else " (HR")
    return (
        f"{size}, cropped to a multiple of {scale}); scoring it needs at least {smallest}×{smallest} (an "
        f"{protocol.SSIM_WINDOW}-pixel SSIM window inside a {scale}-pixel border)"
    )


def check_measurable(pairs: Sequence[ImagePair], scale: int) -> None:
    """Refuses images too small to score, before any network runs on them (a training's validation images: all
    or none).

    Raises:
        InputError: naming the first such image and the smallest size that works.
    """
    for pair in pairs:
        reason = _too_small(pair.hr.shape[0], pair.hr.shape[1], scale)
        if reason is not None:
            raise InputError(f"image {pair.name} is {reason}: use larger images or leave it out")


def measurable_images(images: Sequence[NamedImage], scale: int) -> tuple[list[NamedImage], list[RefusedImage]]:
    """The HR images the protocol can score at ``scale``, and those left out as too small, each with its reason and
    a warning: ``nas eval``, ``nas ablate`` and ``nas attention-maps`` score or analyse the rest.

    Raises:
        InputError: no image is large enough; checked before any network runs.
    """
    reasons = [_too_small(image.pixels.shape[0], image.pixels.shape[1], scale) for image in images]
    kept = [image for image, reason in zip(images, reasons, strict=True) if reason is None]
    refused = [
        RefusedImage(image.name, f"too small: {reason}")
        for image, reason in zip(images, reasons, strict=True)
        if reason is not None
    ]
    if not kept:
        smallest = protocol.min_hr_size(scale)
        raise InputError(
            f"no image is large enough to score at ×{scale} (e.g. {images[0].name} is {reasons[0]}): use images of "
            f"at least {smallest}×{smallest} HR pixels"
        )
    for image in refused:
        logger.warning("image %s left out: %s", image.name, image.reason)
    return kept, refused


def evaluate(
    model: nn.Module,
    pairs: Sequence[ImagePair],
    scale: int,
    device: torch.device | str = "cpu",
    tile: int | None = None,
    overlap: int = DEFAULT_TILE_OVERLAP,
    y: str = protocol.Y_FLOAT,
    on_image: Callable[[ImageScore], None] | None = None,
) -> EvaluationResult:
    """PSNR and SSIM (Y kept as ``y``, border = scale) of ``model`` on every pair, one whole image at a time.

    ``on_image`` is called with each image's score as soon as it is known (progress for long runs).

    Raises:
        InputError: an image is too small to score (``check_measurable``); checked before the first inference.
    """
    check_measurable(pairs, scale)
    was_training = model.training
    model.eval()
    try:
        scores = []
        for pair in pairs:
            sr = to_uint8_image(super_resolve(model, pair.lr, scale, device, tile, overlap))
            score = _score(pair.name, sr, pair.hr, scale, y)
            scores.append(score)
            if on_image is not None:
                on_image(score)
    finally:
        model.train(was_training)
    return EvaluationResult(scores, scale, y)


def bicubic_floor(pairs: Sequence[ImagePair], scale: int, y: str = protocol.Y_FLOAT) -> EvaluationResult:
    """PSNR and SSIM of plain MATLAB-bicubic upsampling of each LR image: the floor any SR network must beat."""
    scores = [_score(pair.name, bicubic_upsample(pair.lr, scale), pair.hr, scale, y) for pair in pairs]
    return EvaluationResult(scores, scale, y)


@functools.cache
def bicubic_psnr(source: str, scale: int) -> float:
    """The mean PSNR of ``bicubic_floor`` over the validation images of ``source`` (``builtin`` or a folder), measured
    once per process: the floor a trained network's gain is read against."""
    return bicubic_floor(data.source_pairs(source, "val", scale), scale).mean_psnr


def _score(name: str, sr: np.ndarray, hr: np.ndarray, scale: int, y: str) -> ImageScore:
    return ImageScore(name, metrics.psnr(sr, hr, border=scale, y=y), metrics.ssim(sr, hr, border=scale, y=y))
