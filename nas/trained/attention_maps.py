"""Attention maps of a trained network and how they follow the image's high frequencies.

A2N (arXiv 2104.09497) found that shallow attention layers respond to low frequencies and deep ones to high
frequencies. Here every slot whose block declares an attention map (the ``attention_map`` probe of the
``blocks.registry`` contract: for ``a2b`` the sigmoid mask of its attention branch, for ``pa``, ``spatial``,
``cbam``, ``esa``, ``lia``, ``sp_ca`` their spatial gates) is read by a forward hook while the network super-
resolves each image, and compared with a high-pass image:

- High-pass image H: the luminance Y of the LR input (BT.601 studio range in float64, ``nas.sr.metrics.rgb_to_y``),
  filtered by the 5-point Laplacian [[0, 1, 0], [1, -4, 1], [0, 1, 0]] with mirrored borders
  (``scipy.ndimage.laplace``, mode ``reflect``), then its absolute value: an edge gives the Laplacian both signs,
  and a gate that follows edges responds to both. A map of another size than the LR image (none in the A2N
  backbone) is compared with H resized to it by bilinear interpolation (area-averaged when shrinking).
- Correlation: Pearson's r (``scipy.stats.pearsonr``) over the pixels of one image between H and the map
  averaged over its channels; NaN where the map is constant.
- Channel-only gates (``ca``, ``ca_sp``: N×C×1×1) have no spatial extent: their per-channel weights are reported
  instead of r.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage, stats

import blocks
from nas.core.networks import AttentionSlot, SRNetwork
from nas.errors import InputError
from nas.sr import evaluate, metrics
from nas.sr.data import ImagePair
from nas.trained.checkpoints import TrainedNetwork

HIGH_PASS = "|Laplacian| of the LR input's Y (5-point stencil, mirrored borders), resized to the map's size"
GRID_LAYERS = 4  # layers shown in the figure when none are chosen


def high_pass(lr: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
    """|5-point Laplacian| of the luminance of an H×W×3 uint8 image, resized to ``size`` (height, width) if given."""
    filtered = np.abs(ndimage.laplace(metrics.rgb_to_y(lr), mode="reflect"))
    if size is None or tuple(size) == filtered.shape:
        return filtered
    shrinking = size[0] < filtered.shape[0] or size[1] < filtered.shape[1]
    resized = F.interpolate(
        torch.from_numpy(filtered)[None, None],
        size=tuple(size),
        mode="bilinear",
        align_corners=False,
        antialias=shrinking,
    )
    return resized[0, 0].numpy()


def correlation(attention_map: np.ndarray, high: np.ndarray) -> float:
    """Pearson's r between a map (C×H×W, averaged over C, or H×W) and a high-pass image of its size; NaN if
    either is constant."""
    spatial = attention_map.mean(axis=0) if attention_map.ndim == 3 else attention_map
    if np.ptp(spatial) == 0 or np.ptp(high) == 0:
        return float("nan")
    return float(stats.pearsonr(spatial.ravel().astype(np.float64), high.ravel().astype(np.float64)).statistic)


def map_probes(network: SRNetwork) -> dict[int, blocks.Probe]:
    """Depth → the probe of the slot's declared attention map, for every slot that declares one."""
    probes = {}
    for depth, slot in enumerate(network.slots):
        block = slot.attention if isinstance(slot, AttentionSlot) else slot
        probe = blocks.attention_map_probe(block)
        if probe is not None:
            probes[depth] = probe
    return probes


@dataclass
class LayerMaps:
    """One attention layer's maps over the images: r with the high-pass image, or per-channel weights."""

    depth: int
    block: str
    spatial: bool = True
    correlations: list[float] = field(default_factory=list)  # per image (spatial maps)
    mean_gate: list[float] = field(default_factory=list)  # per image: the gate's mean value
    channel_weights: list[list[float]] = field(default_factory=list)  # per image (channel-only maps)

    def add(self, gate: np.ndarray, lr: np.ndarray) -> None:
        """Adds one image's gate (C×h×w) for the LR image ``lr`` it came from."""
        self.mean_gate.append(float(gate.mean()))
        self.spatial = gate.shape[1:] != (1, 1) or lr.shape[:2] == (1, 1)
        if self.spatial:
            self.correlations.append(correlation(gate, high_pass(lr, gate.shape[1:])))
        else:
            self.channel_weights.append([float(v) for v in gate.ravel()])

    @property
    def mean_correlation(self) -> float:
        values = np.array(self.correlations)
        return float(np.nanmean(values)) if self.spatial and np.isfinite(values).any() else float("nan")

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        images = []
        for index, name in enumerate(names):
            image = {"name": name, "mean_gate": self.mean_gate[index]}
            if self.spatial:
                image["correlation"] = _finite_or_none(self.correlations[index])
            else:
                image["channel_weights"] = self.channel_weights[index]
            images.append(image)
        kind = "spatial" if self.spatial else "channel"
        correlation_ = _finite_or_none(self.mean_correlation)
        return {"depth": self.depth, "block": self.block, "kind": kind, "correlation": correlation_, "images": images}


def _finite_or_none(value: float) -> float | None:
    return value if np.isfinite(value) else None


@dataclass(frozen=True)
class GridLayer:
    """One layer's maps on the figure's image: channel mean, and its most enhanced and most suppressed channels
    (highest and lowest mean gate)."""

    depth: int
    block: str
    correlation: float
    mean_map: np.ndarray
    enhanced: np.ndarray
    enhanced_channel: int
    suppressed: np.ndarray
    suppressed_channel: int


@dataclass(frozen=True)
class MapGrid:
    """The figure's content: one image, its high-pass version and the maps of the chosen layers."""

    name: str
    image: np.ndarray
    high_pass: np.ndarray
    layers: list[GridLayer]


@dataclass(frozen=True)
class AttentionMaps:
    network: str
    names: list[str]
    layers: list[LayerMaps]
    grid: MapGrid

    def to_json(self) -> dict[str, Any]:
        return {
            "network": self.network,
            "high_pass": HIGH_PASS,
            "correlation": "Pearson r over pixels (scipy.stats.pearsonr), map averaged over channels",
            "images": self.names,
            "layers": [layer.to_json(self.names) for layer in self.layers],
        }

    def to_text(self) -> str:
        """Mean r per layer (the paper's table) with the per-image values; channel-only layers list their weights."""
        widths = [max(7, len(name)) for name in self.names]
        lines = [
            f"{self.network}: attention maps on {len(self.names)} images",
            f"r = Pearson correlation of the channel-mean map with the high-pass image ({HIGH_PASS})",
            f"{'depth':>5} {'block':<8} {'mean r':>7}  "
            + "  ".join(n.rjust(w) for n, w in zip(self.names, widths, strict=True)),
        ]
        for layer in self.layers:
            if layer.spatial:
                values = "  ".join(f"{r:+.3f}".rjust(w) for r, w in zip(layer.correlations, widths, strict=True))
                lines.append(f"{layer.depth:>5} {layer.block:<8} {layer.mean_correlation:+7.3f}  {values}")
            else:
                weights = np.array(layer.channel_weights)
                lines.append(
                    f"{layer.depth:>5} {layer.block:<8} {'channel':>7}  weights over channels and images: mean "
                    f"{weights.mean():.3f}, min {weights.min():.3f}, max {weights.max():.3f}"
                )
        return "\n".join(lines)


def _grid_layer(depth: int, block: str, gate: np.ndarray, lr: np.ndarray) -> GridLayer:
    channel_means = gate.mean(axis=(1, 2))
    high, low = int(channel_means.argmax()), int(channel_means.argmin())
    r = correlation(gate, high_pass(lr, gate.shape[1:]))
    return GridLayer(depth, block, r, gate.mean(axis=0), gate[high], high, gate[low], low)


def grid_depths(layers: Sequence[LayerMaps], chosen: Sequence[int] | None) -> list[int]:
    """The depths drawn in the figure: ``chosen`` (each must hold a spatial map), else evenly spaced ones.

    Raises:
        InputError: a chosen depth has no spatial attention map.
    """
    spatial = [layer.depth for layer in layers if layer.spatial]
    if chosen is None:
        picks = np.linspace(0, len(spatial) - 1, min(GRID_LAYERS, len(spatial))).round().astype(int)
        return [spatial[i] for i in sorted(set(picks))]
    missing = [d for d in chosen if d not in spatial]
    if missing:
        raise InputError(f"--layers: depths {missing} have no spatial attention map; depths that do: {spatial}")
    return list(chosen)


def collect(
    trained: TrainedNetwork, pairs: Sequence[ImagePair], device: str = "cpu", layers: Sequence[int] | None = None
) -> AttentionMaps:
    """Every declared attention map of ``trained`` on every image, correlated with the image's high-pass version.

    Args:
        trained: The network (already on ``device``).
        pairs: The images (their LR versions are the network's input).
        device: Torch device.
        layers: The depths drawn in the figure (default: up to four evenly spaced ones).

    Raises:
        InputError: an image is smaller than the protocol scores (``nas.sr.protocol.min_hr_size``: a correlation
            over a few pixels says nothing), no slot declares an attention map, or a chosen depth has no spatial map.
    """
    network = trained.network
    evaluate.check_measurable(pairs, network.scale)
    probes = map_probes(network)
    if not probes:
        raise InputError(f"network {trained.genotype} has no attention layer that declares an attention map")
    found = {d: LayerMaps(d, trained.genotype.blocks[d]) for d in probes}
    captured: dict[int, np.ndarray] = {}
    hooks = [probe.register_forward_hook(_capture(captured, depth)) for depth, probe in probes.items()]
    first: dict[int, np.ndarray] = {}
    try:
        with torch.inference_mode():
            for pair in pairs:
                evaluate.super_resolve(network, pair.lr, network.scale, device)
                for depth, gate in captured.items():
                    found[depth].add(gate, pair.lr)
                first = first or dict(captured)
                captured.clear()
    finally:
        for hook in hooks:
            hook.remove()
    chosen = grid_depths(list(found.values()), layers)
    lr = pairs[0].lr
    grid_layers = [_grid_layer(d, found[d].block, first[d], lr) for d in chosen]
    grid = MapGrid(pairs[0].name, lr, high_pass(lr), grid_layers)
    return AttentionMaps(f"{trained.genotype} ({trained.source})", [p.name for p in pairs], list(found.values()), grid)


def _capture(store: dict[int, np.ndarray], depth: int):
    def hook(_module: torch.nn.Module, _inputs: tuple[torch.Tensor, ...], gate: torch.Tensor) -> None:
        store[depth] = gate[0].float().cpu().numpy()

    return hook
