"""Image sources and training patches.

Sources give named H×W×3 uint8 RGB images: the built-in photographs that ship inside scikit-image (no
download), or folders of HR images (DIV2K for training; Set5, Set14, B100, Urban100, Manga109 for
validation), with LR images made by the MATLAB-exact bicubic or read from an LR folder. Decoded images are
kept in memory once per process. 16-bit greyscale images are scaled to 8 bits (v / 257, rounded: 0..65535 onto
0..255); Pillow reads 16-bit colour PNGs as their high byte (v // 256, within one level of rounding); images
of 32-bit integers beyond 16 bits or of floats are refused. ``PatchSampler`` cuts training batches on the
training device by tensor indexing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from nas import paths
from nas.errors import InputError
from nas.sr.bicubic import bicubic_downsample
from nas.sr.protocol import BUILTIN

__all__ = [
    "BUILTIN",
    "BUILTIN_TRAIN",
    "BUILTIN_VAL",
    "ImagePair",
    "NamedImage",
    "PatchSampler",
    "bicubic_downsample",
    "builtin_images",
    "evaluation_pairs",
    "folder_images",
    "modcrop",
    "source_images",
    "source_pairs",
]

# scikit-image's bundled natural photographs, split once and for all (no image in both). The validation
# images are two colour photographs and one greyscale photograph of everyday scenes; training gets the rest,
# including the greyscale textures that teach edges and fine detail.
BUILTIN_TRAIN = ("astronaut", "rocket", "hubble_deep_field", "camera", "brick", "grass", "gravel", "moon", "coins")
BUILTIN_VAL = ("chelsea", "coffee", "clock")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


@dataclass(frozen=True)
class NamedImage:
    """An RGB image and the name results report it under."""

    name: str
    pixels: np.ndarray  # H×W×3 uint8, read-only


@dataclass(frozen=True)
class ImagePair:
    """An HR image cropped to a multiple of the scale, and its LR input."""

    name: str
    hr: np.ndarray
    lr: np.ndarray


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """H×W×3 uint8 from greyscale, boolean, RGB or RGBA arrays (alpha is dropped)."""
    if pixels.dtype == bool:
        pixels = pixels.astype(np.uint8) * 255
    if pixels.dtype != np.uint8:
        raise ValueError(f"expected 8-bit pixels, got {pixels.dtype}")
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    if pixels.ndim != 3 or pixels.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected a greyscale, RGB or RGBA image, got shape {pixels.shape}")
    if pixels.shape[2] == 1:
        pixels = np.repeat(pixels, 3, axis=2)
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    rgb.setflags(write=False)
    return rgb


def modcrop(pixels: np.ndarray, scale: int) -> np.ndarray:
    """Crops bottom and right so that height and width divide by ``scale``."""
    height, width = pixels.shape[:2]
    return pixels[: height - height % scale, : width - width % scale]


@functools.cache
def builtin_images(split: str) -> tuple[NamedImage, ...]:
    """The built-in training (``"train"``) or validation (``"val"``) photographs."""
    import skimage.data

    names = {"train": BUILTIN_TRAIN, "val": BUILTIN_VAL}[split]
    return tuple(NamedImage(name, to_rgb(getattr(skimage.data, name)())) for name in names)


SIXTEEN_BIT_MAX = 65535


def _eight_bit(image: Image.Image, path: Path) -> np.ndarray:
    """The pixels of a decoded image as 8-bit RGB; 16-bit greyscale is scaled with rounding, never clipped."""
    if image.mode.startswith("I"):  # "I;16*" (16-bit PNG/TIFF) or "I" (32-bit integers, 16-bit PNGs in old Pillow)
        values = np.asarray(image, dtype=np.int64)
        if values.size and (values.min() < 0 or values.max() > SIXTEEN_BIT_MAX):
            raise InputError(
                f"image {path} holds integers from {values.min()} to {values.max()}, beyond 16 bits; "
                "save it as an 8- or 16-bit PNG"
            )
        # 65535 / 255 = 257 exactly: 0..65535 onto 0..255, rounded (v / 257 is never a tie: 257 is odd).
        return to_rgb(np.rint(values / (SIXTEEN_BIT_MAX / 255)).astype(np.uint8))
    if image.mode == "F":
        raise InputError(f"image {path} holds floating-point pixels of no fixed range; save it as an 8-bit PNG")
    return to_rgb(np.asarray(image.convert("RGB")))


def _read_image(path: Path) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return _eight_bit(image, path)
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise InputError(f"cannot read image {path}: {error}; replace or remove the file") from None


@functools.cache
def _folder_images(folder: Path) -> tuple[NamedImage, ...]:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return tuple(NamedImage(path.stem, _read_image(path)) for path in files)


def folder_images(folder: str | Path, kind: str = "HR") -> tuple[NamedImage, ...]:
    """Every image in ``folder`` (sorted by file name), decoded once per process.

    Args:
        folder: The folder.
        kind: What the images are ("HR" or "LR"), for the messages.

    Raises:
        InputError: the folder is missing, not a folder or holds no images, or an image cannot be decoded.
    """
    example = "e.g. DIV2K_train_HR" if kind == "HR" else "e.g. DIV2K_train_LR_bicubic/X2, files <name>x2.png"
    fix = f"pass a folder of {kind} images ({example})"
    path = paths.existing_folder(folder, f"{kind} image folder", fix)
    images = _folder_images(path)
    if not images:
        raise InputError(f"{kind} image folder {path} holds no images ({', '.join(IMAGE_SUFFIXES)}); check the path")
    return images


def source_images(source: str | Path, split: str) -> tuple[NamedImage, ...]:
    """Images of a source: ``"builtin"`` (the split decides train or val images) or a folder path."""
    return builtin_images(split) if str(source) == BUILTIN else folder_images(source)


@functools.cache
def source_pairs(source: str, split: str, scale: int) -> tuple[ImagePair, ...]:
    """HR/LR pairs of a source (see ``source_images``), made once per process for each scale."""
    return tuple(evaluation_pairs(source_images(source, split), scale))


def _lr_for(hr_name: str, scale: int, lr_by_name: dict[str, NamedImage]) -> NamedImage | None:
    # DIV2K and the benchmark sets name LR files "<name>x<scale>"; plain "<name>" is accepted too.
    return lr_by_name.get(f"{hr_name}x{scale}") or lr_by_name.get(hr_name)


def evaluation_pairs(
    hr_images: Sequence[NamedImage], scale: int, lr_folder: str | Path | None = None
) -> list[ImagePair]:
    """HR images cropped to a multiple of ``scale`` with their LR inputs.

    LR images are made with the MATLAB-exact bicubic unless ``lr_folder`` is given, in which case they are
    read from it (``<name>x<scale>.png`` or ``<name>.png``) and must be exactly the HR size divided by scale.

    Raises:
        InputError: an LR image is missing or has the wrong size.
    """
    lr_by_name = {image.name: image for image in folder_images(lr_folder, "LR")} if lr_folder is not None else None
    pairs = []
    for image in hr_images:
        hr = modcrop(image.pixels, scale)
        if hr.shape[0] < scale or hr.shape[1] < scale:
            raise InputError(f"image {image.name} ({image.pixels.shape[1]}×{image.pixels.shape[0]}) is too small")
        if lr_by_name is None:
            lr = bicubic_downsample(hr, scale)
        else:
            found = _lr_for(image.name, scale, lr_by_name)
            if found is None:
                raise InputError(f"no LR image for {image.name} in {lr_folder} (expected {image.name}x{scale}.png)")
            lr = found.pixels
            expected = (hr.shape[0] // scale, hr.shape[1] // scale)
            if lr.shape[:2] != expected:
                raise InputError(
                    f"LR image {found.name} in {lr_folder} is {lr.shape[1]}×{lr.shape[0]}, "
                    f"expected {expected[1]}×{expected[0]} (HR {image.name} / {scale})"
                )
        pairs.append(ImagePair(image.name, hr, lr))
    return pairs


class PatchSampler:
    """Random aligned LR/HR training patches, cut on the training device.

    All LR and HR images live in two flat uint8 buffers (HWC order) on the device. A batch is one gather: per
    sample an image, a crop position, a horizontal flip, a vertical flip and a transpose (which with the flips
    gives the eight 90° rotations and mirrorings) are drawn, and folded into the gather's index grids, so no
    per-sample Python loop runs. Batches come out channels_last, the layout the trainer runs the network in.

    Args:
        pairs: Training HR images with their LR inputs; those smaller than a patch are left out.
        scale: Upscaling factor.
        patch_size: LR patch side; HR patches are ``patch_size * scale``.
        device: Where the buffers live and batches are cut.
        seed: Seed of the sampler's own generator.

    Raises:
        InputError: no image is large enough for one patch.
    """

    def __init__(
        self, pairs: Sequence[ImagePair], scale: int, patch_size: int, device: torch.device | str, seed: int
    ) -> None:
        self.scale = scale
        self.patch_size = patch_size
        self.device = torch.device(device)
        pairs = [p for p in pairs if min(p.lr.shape[:2]) >= patch_size]
        if not pairs:
            raise InputError(
                f"no training image is large enough for {patch_size}×{patch_size} LR patches at ×{scale}; "
                "lower proxy.patch_size or use larger images"
            )
        self.names = [p.name for p in pairs]
        self._lr = self._pack([p.lr for p in pairs])
        self._hr = self._pack([p.hr for p in pairs])
        self._generator = torch.Generator(self.device)
        self._generator.manual_seed(seed)

    @property
    def generator(self) -> torch.Generator:
        """The sampler's own generator: its state is where the patch stream stands (a resumed training sets it)."""
        return self._generator

    def _pack(self, images: list[np.ndarray]) -> dict[str, torch.Tensor]:
        flat = [torch.tensor(image).flatten() for image in images]
        sizes = torch.tensor([f.numel() for f in flat])
        return {
            "pixels": torch.cat(flat).to(self.device),
            "offsets": (torch.cumsum(sizes, 0) - sizes).to(self.device),
            "heights": torch.tensor([image.shape[0] for image in images], device=self.device),
            "widths": torch.tensor([image.shape[1] for image in images], device=self.device),
        }

    def _rand(self, batch_size: int) -> torch.Tensor:
        return torch.rand(batch_size, generator=self._generator, device=self.device)

    def _gather(self, packed, which, top, left, size, hflip, vflip, transpose) -> torch.Tensor:
        steps = torch.arange(size, device=self.device)
        rows = torch.where(vflip[:, None], size - 1 - steps, steps)[:, :, None].expand(-1, size, size)
        cols = torch.where(hflip[:, None], size - 1 - steps, steps)[:, None, :].expand(-1, size, size)
        swap = transpose[:, None, None]
        rows, cols = torch.where(swap, cols, rows), torch.where(swap, rows, cols)
        widths = packed["widths"][which][:, None, None]
        pixel = (top[:, None, None] + rows) * widths + left[:, None, None] + cols  # B×size×size
        channel = torch.arange(3, device=self.device)
        index = packed["offsets"][which][:, None, None, None] + pixel[..., None] * 3 + channel  # B×size×size×3
        return packed["pixels"][index].permute(0, 3, 1, 2).float().div_(255.0)  # B×3×size×size, channels_last

    def sample(self, batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch of LR (B×3×p×p) and HR (B×3×ps×ps) float32 patches in [0, 1], channels_last."""
        which = torch.randint(len(self.names), (batch_size,), generator=self._generator, device=self.device)
        lr_h, lr_w = self._lr["heights"][which], self._lr["widths"][which]
        top = (self._rand(batch_size) * (lr_h - self.patch_size + 1)).long()
        left = (self._rand(batch_size) * (lr_w - self.patch_size + 1)).long()
        hflip, vflip, transpose = (self._rand(batch_size) < 0.5 for _ in range(3))
        flips = (hflip, vflip, transpose)
        lr = self._gather(self._lr, which, top, left, self.patch_size, *flips)
        hr = self._gather(self._hr, which, top * self.scale, left * self.scale, self.patch_size * self.scale, *flips)
        return lr, hr
