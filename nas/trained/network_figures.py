"""PNG figures of the trained-network analyses: ablation by depth, and attention maps beside their image."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nas.files import save_figure  # noqa: E402
from nas.trained.ablation_result import Ablation  # noqa: E402
from nas.trained.ablation_statistics import FAMILY_CONFIDENCE  # noqa: E402

if TYPE_CHECKING:
    from nas.trained.attention_maps import MapGrid

MODE_COLOURS = {"remove": "#d62728", "renormalise": "#1f77b4", "gate-mean": "#2ca02c"}
MODE_LABELS = {  # what each mode takes away (``nas.trained.ablation_result.MODE_MEANINGS``)
    "remove": "remove: attention branch off, other branch's weight kept",
    "renormalise": "renormalise: attention branch off, other branch's weight 1",
    "gate-mean": "gate-mean: gate set to its spatial mean (selectivity off)",
}


def ablation_figure(ablation: Ablation, path: Path) -> None:
    """ΔPSNR by depth for each mode, with its simultaneous interval over images (none drawn where there is none);
    below it, the ADM weights (a2b depths)."""
    panels = 2 if ablation.attention_weights else 1
    figure, axes = plt.subplots(
        panels, 1, figsize=(8, 3.2 * panels + 0.6), sharex=True, squeeze=False, layout="constrained"
    )
    top = axes[0, 0]
    offsets = np.linspace(-0.15, 0.15, len(ablation.modes))
    for offset, mode in zip(offsets, ablation.modes, strict=True):
        effects = [e for e in ablation.depths if e.mode == mode]
        if not effects:
            continue
        intervals = [ablation.interval(e) for e in effects]
        depths = np.array([e.depths[0] for e in effects]) + offset
        means = np.array([i.mean for i in intervals])
        ends = np.array([(np.nan, np.nan) if i.low is None else (i.low, i.high) for i in intervals], dtype=float)
        errors = np.abs(ends.T - means)  # NaN where there is no interval: no bar
        label = f"{MODE_LABELS.get(mode, mode)} ({ablation.family_size(mode)} effects)"
        top.errorbar(depths, means, yerr=errors, fmt="o", capsize=3, color=MODE_COLOURS.get(mode), label=label)
    top.axhline(0, color="grey", linewidth=0.8)
    top.set_ylabel("ΔPSNR (dB), switched off − baseline")
    # Symmetric log: one depth can cost several dB while the others cost tenths.
    top.set_yscale("symlog", linthresh=0.1)
    top.set_title(
        f"{ablation.network}\nmean over {len(ablation.names)} images; bars: Student-t intervals over images,\n"
        f"{FAMILY_CONFIDENCE:.0%} simultaneous over each mode's depth and group effects (Bonferroni)",
        fontsize=9,
    )
    figure.legend(loc="outside lower center", fontsize=8)  # below the axes: the bars fill the panel
    if panels == 2:
        bottom = axes[1, 0]
        for depth, values in sorted(ablation.attention_weights.items()):
            bottom.scatter(np.full(len(values), depth), values, s=12, color="#9aa5b1")
            bottom.scatter([depth], [values.mean()], marker="_", s=300, color="black")
        bottom.set_ylabel("ADM attention-branch weight")
        bottom.set_ylim(0, 1)
    axes[-1, 0].set_xlabel("depth")
    axes[-1, 0].set_xticks(sorted({e.depths[0] for e in ablation.depths}))
    save_figure(figure, path)


def attention_map_figure(grid: MapGrid, path: Path) -> None:
    """The input, its high-pass image, then per chosen layer its channel-mean map and its most enhanced and most
    suppressed channels, each map min-max scaled."""
    rows = 1 + len(grid.layers)
    figure, axes = plt.subplots(rows, 3, figsize=(9, 3 * rows), squeeze=False, layout="constrained")
    axes[0, 0].imshow(grid.image)
    axes[0, 0].set_title(f"input {grid.name} (LR)")
    axes[0, 1].imshow(grid.high_pass, cmap="gray")
    axes[0, 1].set_title("high-pass |Laplacian of Y|")
    axes[0, 2].axis("off")
    for row, layer in enumerate(grid.layers, start=1):
        panels = [
            (layer.mean_map, f"depth {layer.depth} {layer.block}: mean, r = {layer.correlation:+.2f}"),
            (layer.enhanced, f"most enhanced channel {layer.enhanced_channel}"),
            (layer.suppressed, f"most suppressed channel {layer.suppressed_channel}"),
        ]
        for column, (image, title) in enumerate(panels):
            # Each map on its own scale (its range in the title): gates often vary by a few hundredths.
            axes[row, column].imshow(image, cmap="viridis")
            axes[row, column].set_title(f"{title}\n{image.min():.2f}-{image.max():.2f}", fontsize=9)
    for axis in axes.flat:
        axis.set_xticks([])
        axis.set_yticks([])
    save_figure(figure, path)
