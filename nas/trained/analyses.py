"""A trained network run on a folder of images, one call per command: ``evaluate_network`` (``nas eval``),
``ablate_network`` (``nas ablate``) and ``map_attention`` (``nas attention-maps``).

Each takes a ``NetworkSource`` (a checkpoint written by ``nas train --save``, or released weights with their
architecture and scale), loads the network on the device, keeps the images the protocol can score and runs its
analysis; each result prints as text or JSON, the JSON naming the images left out as too small. The ablation and
the attention maps write their JSON and figure into an ``--out`` folder checked before any work (``nas.trained.
outputs``), once their result has been shown.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from nas import devices
from nas.errors import InputError
from nas.sr import data, evaluate, protocol
from nas.trained import checkpoints, outputs

if TYPE_CHECKING:
    from nas.trained.ablation_result import Ablation
    from nas.trained.attention_maps import AttentionMaps


@dataclass(frozen=True)
class NetworkSource:
    """Where a trained network comes from: ``checkpoint`` (written by ``nas train --save``), or ``arch`` with
    ``scale`` and ``weights`` (released weights, trained on pixels in ``[0, input_range]``; default A2N's 255).
    ``scale`` with a checkpoint must be the checkpoint's own."""

    checkpoint: str | Path | None = None
    arch: str | None = None
    scale: int | None = None
    weights: str | Path | None = None
    input_range: float | None = None


def trained_network(source: NetworkSource, device: str) -> checkpoints.TrainedNetwork:
    """The network that ``source`` names, on ``device``.

    Raises:
        InputError: ``source`` names no network or two; it gives an input range or another scale with a
            checkpoint; or the file cannot be used (``nas.trained.checkpoints``).
    """
    if source.checkpoint is not None:
        if source.arch is not None or source.weights is not None:
            raise InputError("give either --checkpoint PATH or --arch a2n --scale S --weights PATH, not both")
        if source.input_range is not None:
            raise InputError("--input-range is for --weights: a checkpoint records its input range; drop --input-range")
        trained = checkpoints.load(source.checkpoint)
        if source.scale is not None and source.scale != trained.genotype.scale:
            raise InputError(
                f"--scale {source.scale} differs from the checkpoint's scale {trained.genotype.scale}; drop --scale"
            )
    elif source.arch is None or source.scale is None or source.weights is None:
        raise InputError("name the network: --checkpoint PATH, or --arch a2n with --scale S and --weights PATH")
    else:
        trained = checkpoints.released_a2n(
            source.scale, source.weights, source.input_range or checkpoints.RELEASED_INPUT_RANGE
        )
    trained.network.to(device)
    return trained


def scored_images(
    folder: str | Path, scale: int, count: int | None = None
) -> tuple[list[data.NamedImage], dict[str, Any]]:
    """The first ``count`` images of ``folder`` (default: all) that the protocol can score at ``scale``, and the
    JSON entry that names those left out as too small (``nas.sr.evaluate.measurable_images`` warns of each).

    Raises:
        InputError: the folder holds no image, or none large enough.
    """
    kept, refused = evaluate.measurable_images(data.folder_images(folder)[:count], scale)
    return kept, {"refused_images": [asdict(image) for image in refused]}


def image_progress(total: int, stream: TextIO | None = None) -> Callable[[evaluate.ImageScore], None]:
    """One line per scored image on ``stream`` (default: stderr as it is at each line): a long evaluation is never
    silent."""
    done = itertools.count(1)

    def show(score: evaluate.ImageScore) -> None:
        line = f"nas eval: image {next(done)}/{total} {score.name}: {score.psnr:.3f} dB"
        print(line, file=sys.stderr if stream is None else stream, flush=True)

    return show


@dataclass(frozen=True)
class NetworkEvaluation:
    """What ``evaluate_network`` found: each image's PSNR/SSIM under a title naming the network, the images and the
    protocol; the images left out as too small."""

    result: evaluate.EvaluationResult
    title: str
    refused: dict[str, Any]

    def to_text(self) -> str:
        return self.result.to_text(self.title)

    def to_json(self) -> dict[str, Any]:
        return {**self.result.to_json(), **self.refused}


def evaluate_network(
    source: NetworkSource,
    images: str | Path,
    device: str | None = None,
    tile: int | None = None,
    y: str = protocol.Y_FLOAT,
    lr_folder: str | Path | None = None,
    progress: TextIO | None = None,
) -> NetworkEvaluation:
    """``nas eval``: the network of ``source`` scored with the SR protocol on the HR images of the folder
    ``images`` (LR made by MATLAB bicubic, or read from ``lr_folder``), one progress line per image on
    ``progress`` (default stderr).

    Args:
        device: Torch device, checked (default: ``nas.devices.default_device``).
        tile: LR tile size for large images (``nas.sr.evaluate.evaluate``).
        y: How Y is kept (``nas.sr.protocol.Y_MODES``).

    Raises:
        InputError: the device, the network or the images cannot be used.
    """
    chosen = devices.chosen(device)
    trained = trained_network(source, chosen)
    scale = trained.genotype.scale
    kept, refused = scored_images(images, scale)
    pairs = data.evaluation_pairs(kept, scale, lr_folder)
    on_image = image_progress(len(pairs), progress)
    result = evaluate.evaluate(trained.network, pairs, scale, chosen, tile=tile, y=y, on_image=on_image)
    protocol_text = f"{y} Y channel, border {scale}, MATLAB bicubic LR"
    title = f"{source.arch or trained.genotype} x{scale} on {images} ({protocol_text})"
    return NetworkEvaluation(result, title, refused)


@dataclass(frozen=True)
class Analysed:
    """An analysis of a trained network (an ablation, attention maps) and the images left out as too small."""

    result: Ablation | AttentionMaps
    refused: dict[str, Any]

    def to_text(self) -> str:
        return self.result.to_text()

    def to_json(self) -> dict[str, Any]:
        return {**self.result.to_json(), **self.refused}


Shown = Callable[[Analysed], None]


def _named(out: str | Path | None) -> str | None:
    return None if out is None else str(out)


def ablate_network(
    source: NetworkSource,
    images: str | Path,
    groups: str | None = None,
    mode: str | None = None,
    device: str | None = None,
    tile: int | None = None,
    out: str | Path | None = None,
    show: Shown | None = None,
) -> Analysed:
    """``nas ablate``: the network of ``source`` evaluated on the folder ``images``, then with the attention of each
    depth and of each group switched off (``nas.trained.ablation.ablate``).

    Args:
        groups: Depths switched off together, as ``0-3,4-7`` (default: four groups).
        mode: One of ``nas.trained.ablation.MODES`` (default: every one).
        device: Torch device, checked (default: ``nas.devices.default_device``).
        tile: LR tile size for large images.
        out: A folder for ``ablation.json`` and ``ablation.png``, checked before any work.
        show: Called with the result before the files are written, so a failed write loses nothing shown.

    Raises:
        InputError: ``out``, the device, the network, the groups or the images cannot be used.
    """
    from nas.trained import ablation
    from nas.trained import network_figures as figures  # matplotlib loads only for these analyses

    outputs.output_folder(_named(out), "ablation")
    chosen = devices.chosen(device)
    trained = trained_network(source, chosen)
    depth_groups = ablation.resolve_groups(trained, groups)
    kept, refused = scored_images(images, trained.genotype.scale)
    pairs = data.evaluation_pairs(kept, trained.genotype.scale)
    modes = (mode,) if mode else ablation.MODES
    result = ablation.ablate(trained, pairs, depth_groups, modes, chosen, tile)
    analysed = Analysed(result, refused)
    if show is not None:
        show(analysed)
    outputs.write_outputs(
        _named(out), "ablation", analysed.to_json(), lambda path: figures.ablation_figure(result, path)
    )
    return analysed


def map_attention(
    source: NetworkSource,
    images: str | Path,
    count: int | None = None,
    layers: Sequence[int] | None = None,
    device: str | None = None,
    out: str | Path | None = None,
    show: Shown | None = None,
) -> Analysed:
    """``nas attention-maps``: every declared attention map of the network of ``source`` on the first ``count``
    images of the folder ``images`` (default: all), and its correlation with the image's high frequencies
    (``nas.trained.attention_maps.collect``).

    Args:
        layers: The depths drawn in the figure (default: up to four evenly spaced ones).
        device: Torch device, checked (default: ``nas.devices.default_device``).
        out: A folder for ``attention_maps.json`` and ``attention_maps.png``, checked before any work.
        show: Called with the result before the files are written, so a failed write loses nothing shown.

    Raises:
        InputError: ``out``, the device, the network, the layers or the images cannot be used.
    """
    from nas.trained import attention_maps
    from nas.trained import network_figures as figures  # matplotlib loads only for these analyses

    outputs.output_folder(_named(out), "attention_maps")
    chosen = devices.chosen(device)
    trained = trained_network(source, chosen)
    kept, refused = scored_images(images, trained.genotype.scale, count)
    pairs = data.evaluation_pairs(kept, trained.genotype.scale)
    maps = attention_maps.collect(trained, pairs, chosen, layers)
    analysed = Analysed(maps, refused)
    if show is not None:
        show(analysed)
    draw = figures.attention_map_figure
    outputs.write_outputs(_named(out), "attention_maps", analysed.to_json(), lambda path: draw(maps.grid, path))
    return analysed
