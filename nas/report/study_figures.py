"""The report's figures, each drawn twice from the same data: matplotlib (PNG) and plotly (interactive HTML)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import plotly.graph_objects as go  # noqa: E402

import blocks  # noqa: E402
from blocks import NO_ATTENTION  # noqa: E402
from nas.core import genotypes  # noqa: E402
from nas.core.experiment_design import group_text  # noqa: E402
from nas.core.objectives import OBJECTIVES  # noqa: E402
from nas.files import save_figure  # noqa: E402
from nas.report import analysis
from nas.report.experiment_budgets import BudgetedExperiment  # noqa: E402
from nas.report.experiment_effects import DesignedEffect, ExperimentResult

FRONT_COLOUR = "#d62728"
TRIAL_COLOUR = "#9aa5b1"
UNIFORM_COLOUR = "#1f77b4"
CONTROL_COLOUR = "#ff7f0e"
MECHANISM_COLOUR = "#2ca02c"
FOREST_FAMILIES = {"attention": UNIFORM_COLOUR, "control": CONTROL_COLOUR, "mechanism": MECHANISM_COLOUR}
FOREST_OFFSETS = (-0.2, 0.0, 0.2)  # each series' shift within its row


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    save_figure(figure, path)


def _pareto_parts(done: pd.DataFrame, cost: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The PSNR-vs-``cost`` front (by cost) and the uniform placements, one point per genotype."""
    front = done[analysis.front_mask(done, ["psnr", cost])].sort_values(cost)
    return front, done[done["baseline"].notna()].drop_duplicates("genotype")


Marker = tuple[str, float]  # a published network's name and cost: a vertical line (``published_networks``)
MARKER_COLOUR = "#8c564b"


def pareto_png(
    done: pd.DataFrame, cost: str, path: Path, floor_db: float | None = None, markers: Sequence[Marker] = ()
) -> None:
    """Every trial's PSNR against ``cost``, the front and the uniform placements; the bicubic floor of the validation
    images (``floor_db``) as a line, so networks under it show at a glance; published networks as cost markers."""
    divisor, label = OBJECTIVES[cost].axis
    front, uniform = _pareto_parts(done, cost)
    figure, axes = plt.subplots(figsize=(7.5, 4.8))
    if floor_db is not None:
        axes.axhline(floor_db, color="#555555", lw=0.8, ls="--", label=f"bicubic upsampling ({floor_db:.3f} dB)")
    for name, value in markers:
        axes.axvline(value / divisor, color=MARKER_COLOUR, lw=0.7, ls=":")
        axes.annotate(name, (value / divisor, 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                      va="top", ha="right", color=MARKER_COLOUR)  # fmt: skip
    axes.scatter(done[cost] / divisor, done["psnr"], s=14, color=TRIAL_COLOUR, label=f"trials ({len(done)})")
    axes.step(front[cost] / divisor, front["psnr"], where="post", color=FRONT_COLOUR, linewidth=1.2)
    axes.scatter(front[cost] / divisor, front["psnr"], s=26, color=FRONT_COLOUR, label=f"Pareto front ({len(front)})")
    axes.scatter(uniform[cost] / divisor, uniform["psnr"], s=40, facecolors="none", edgecolors=UNIFORM_COLOUR,
                 label="uniform placements")  # fmt: skip
    for _, row in uniform.iterrows():
        block = row["baseline"].removeprefix(genotypes.UNIFORM_PREFIX)
        axes.annotate(block, (row[cost] / divisor, row["psnr"]), fontsize=7, xytext=(4, 3), textcoords="offset points",
                      color=UNIFORM_COLOUR)  # fmt: skip
    axes.set_xlabel(label)
    axes.set_ylabel("proxy PSNR (dB, Y channel)")
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower right")
    _save(figure, path)


def pareto_plotly(
    done: pd.DataFrame, cost: str, floor_db: float | None = None, markers: Sequence[Marker] = ()
) -> go.Figure:
    """The interactive ``pareto_png``."""
    divisor, label = OBJECTIVES[cost].axis
    front, uniform = _pareto_parts(done, cost)
    hover = "trial %{customdata[0]}<br>%{customdata[1]}<br>PSNR %{y:.3f} dB<br>%{x:.4g}<extra></extra>"
    figure = go.Figure()
    if floor_db is not None:
        figure.add_hline(y=floor_db, line_dash="dash", line_color="#555555", annotation_text="bicubic upsampling")
    for name, value in markers:
        figure.add_vline(x=value / divisor, line_dash="dot", line_color=MARKER_COLOUR, annotation_text=name,
                         annotation_textangle=-90)  # fmt: skip
    for name, rows, style in (
        ("trials", done, {"color": TRIAL_COLOUR, "size": 6}),
        ("Pareto front", front, {"color": FRONT_COLOUR, "size": 9}),
        ("uniform placements", uniform, {"color": UNIFORM_COLOUR, "size": 11, "symbol": "circle-open"}),
    ):
        figure.add_trace(go.Scatter(
            x=rows[cost] / divisor, y=rows["psnr"], mode="markers+lines" if name == "Pareto front" else "markers",
            line={"shape": "hv", "color": FRONT_COLOUR}, marker=style, name=name,
            customdata=np.stack([rows["number"], rows["genotype"]], axis=1), hovertemplate=hover,
        ))  # fmt: skip
    figure.update_layout(title=f"PSNR vs {label}", xaxis_title=label, yaxis_title="proxy PSNR (dB)")
    return figure


def _random_label(repeats: int) -> str:
    label = f"random search, {repeats} repeat{'s' if repeats > 1 else ''}"
    return f"{label} (median, min–max)" if repeats > 1 else label


def hypervolume_png(curve: pd.DataFrame, random_band: pd.DataFrame | None, repeats: int, cost: str, path: Path) -> None:
    """The search's hypervolume against trials, beside the ``repeats`` random searches' band (when there are any)."""
    figure, axes = plt.subplots(figsize=(6.5, 3.6))
    if random_band is not None and repeats:
        axes.fill_between(random_band["trials"], random_band["low"], random_band["high"], color=TRIAL_COLOUR,
                          alpha=0.3, linewidth=0)  # fmt: skip
        axes.plot(random_band["trials"], random_band["median"], color=TRIAL_COLOUR, label=_random_label(repeats))
    axes.plot(curve["trials"], curve["hypervolume"], color=FRONT_COLOUR, label="this search")
    axes.set_xlabel("trials")
    axes.set_ylabel(f"hypervolume (PSNR × {cost}, 0–1)")
    axes.legend(fontsize=7, loc="lower right")
    axes.grid(alpha=0.3)
    _save(figure, path)


def hypervolume_plotly(curve: pd.DataFrame, random_band: pd.DataFrame | None, repeats: int, cost: str) -> go.Figure:
    traces = []
    if random_band is not None and repeats:
        band = {"mode": "lines", "line": {"width": 0, "color": TRIAL_COLOUR}, "showlegend": False,
                "hoverinfo": "skip"}  # fmt: skip
        traces = [
            go.Scatter(x=random_band["trials"], y=random_band["low"], **band),
            go.Scatter(x=random_band["trials"], y=random_band["high"], fill="tonexty", **band),
            go.Scatter(x=random_band["trials"], y=random_band["median"], mode="lines", name=_random_label(repeats),
                       line={"color": TRIAL_COLOUR}),
        ]  # fmt: skip
    search = go.Scatter(x=curve["trials"], y=curve["hypervolume"], mode="lines", name="this search",
                        line={"color": FRONT_COLOUR})  # fmt: skip
    figure = go.Figure([*traces, search])
    figure.update_layout(title=f"Hypervolume (PSNR × {cost}, normalised) against trials", xaxis_title="trials",
                         yaxis_title="hypervolume (0–1)")  # fmt: skip
    return figure


def _effect_grid(effects: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """Depth × block tables of effects and of their interval text, and the colour scale's limit."""
    grid = effects.pivot(index="depth", columns="block", values="effect_db")
    text = effects.assign(
        label=[f"{e:+.2f}\n[{lo:+.2f},{hi:+.2f}]" if np.isfinite(lo) else f"{e:+.2f}"
               for e, lo, hi in zip(effects["effect_db"], effects["low_db"], effects["high_db"], strict=True)]
    ).pivot(index="depth", columns="block", values="label")  # fmt: skip
    limit = float(np.nanmax(np.abs(grid.to_numpy()))) if grid.size else 1.0
    return grid, text, limit


def effects_png(effects: pd.DataFrame, path: Path) -> None:
    grid, text, limit = _effect_grid(effects)
    figure, axes = plt.subplots(figsize=(1.0 + 0.95 * len(grid.columns), 1.0 + 0.55 * len(grid.index)))
    image = axes.imshow(grid.to_numpy(dtype=float), cmap="RdBu", vmin=-limit, vmax=limit, aspect="auto")
    for (row, column), value in np.ndenumerate(text.to_numpy()):
        if isinstance(value, str):
            axes.text(column, row, value, ha="center", va="center", fontsize=6)
    axes.set_xticks(range(len(grid.columns)), grid.columns, rotation=45, ha="right", fontsize=8)
    axes.set_yticks(range(len(grid.index)), [f"depth {d}" for d in grid.index], fontsize=8)
    figure.colorbar(image, label="PSNR association vs none (dB)")
    axes.set_title("Association of each block at each depth with PSNR (search trials, not effects; 95% simultaneous "
                   "CI)", fontsize=8)  # fmt: skip
    _save(figure, path)


def effects_plotly(effects: pd.DataFrame) -> go.Figure:
    grid, text, limit = _effect_grid(effects)
    figure = go.Figure(go.Heatmap(
        z=grid.to_numpy(dtype=float), x=list(grid.columns), y=[f"depth {d}" for d in grid.index],
        text=text.fillna("").to_numpy(), texttemplate="%{text}", colorscale="RdBu", zmin=-limit, zmax=limit,
        colorbar={"title": "dB vs none"},
    ))  # fmt: skip
    figure.update_layout(title="PSNR association of each block at each depth, relative to none (search trials: "
                         "associations, not effects; 95% simultaneous CI)")  # fmt: skip
    return figure


def frequency_png(frequency: pd.DataFrame, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(6.5, 3.4))
    positions = np.arange(len(frequency))
    axes.bar(positions - 0.2, frequency["front"], width=0.4, color=FRONT_COLOUR, label="Pareto front")
    axes.bar(positions + 0.2, frequency["all"], width=0.4, color=TRIAL_COLOUR, label="all complete trials")
    axes.set_xticks(positions, [str(d) for d in frequency["depth"]])
    axes.set_xlabel("depth")
    axes.set_ylabel("share with attention")
    axes.set_ylim(0, 1)
    axes.legend(fontsize=8)
    _save(figure, path)


def frequency_plotly(frequency: pd.DataFrame) -> go.Figure:
    figure = go.Figure([
        go.Bar(x=frequency["depth"], y=frequency["front"], name="Pareto front", marker_color=FRONT_COLOUR),
        go.Bar(x=frequency["depth"], y=frequency["all"], name="all complete trials", marker_color=TRIAL_COLOUR),
    ])  # fmt: skip
    figure.update_layout(title="Share of trials with attention at each depth", xaxis_title="depth",
                         yaxis_title="share", yaxis_range=[0, 1])  # fmt: skip
    return figure


def importance_png(importance: dict[str, float], path: Path) -> None:
    names = sorted(importance)
    figure, axes = plt.subplots(figsize=(6.5, 3.2))
    axes.bar([f"depth {genotypes.depth_index(n)}" for n in names], [importance[n] for n in names], color=UNIFORM_COLOUR)
    axes.set_ylabel("PED-ANOVA importance for PSNR")
    _save(figure, path)


def importance_plotly(importance: dict[str, float]) -> go.Figure:
    names = sorted(importance)
    figure = go.Figure(go.Bar(x=[f"depth {genotypes.depth_index(n)}" for n in names], y=[importance[n] for n in names]))
    figure.update_layout(title="Per-depth importance for PSNR (Optuna PED-ANOVA)", yaxis_title="importance")
    return figure


def block_colours(blocks: list[str]) -> dict[str, str]:
    """A stable colour per block (``none`` white), for the placement strips."""
    palette = plt.get_cmap("tab20").colors  # type: ignore[attr-defined]  # a ListedColormap, typed as Colormap
    colours = {NO_ATTENTION: "#ffffff"}
    for index, block in enumerate(sorted(b for b in blocks if b != NO_ATTENTION)):
        red, green, blue = palette[index % len(palette)][:3]
        colours[block] = f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"
    return colours


def strips_png(front: pd.DataFrame, depths: list[str], colours: dict[str, str], path: Path) -> None:
    rows = front.sort_values("psnr", ascending=False)
    figure, axes = plt.subplots(figsize=(1.5 + 0.7 * len(depths), 0.6 + 0.32 * len(rows)))
    for y, (_, row) in enumerate(rows.iterrows()):
        for x, depth in enumerate(depths):
            axes.add_patch(plt.Rectangle((x, y), 0.95, 0.9, color=colours[row[depth]], ec="#555555", lw=0.4))
            axes.text(x + 0.47, y + 0.45, row[depth], ha="center", va="center", fontsize=6)
    axes.set_xlim(0, len(depths))
    axes.set_ylim(len(rows), 0)
    axes.set_xticks([x + 0.47 for x in range(len(depths))], [str(genotypes.depth_index(d)) for d in depths], fontsize=7)
    axes.set_yticks([y + 0.45 for y in range(len(rows))], [f"{p:.3f} dB" for p in rows["psnr"]], fontsize=7)
    axes.set_xlabel("depth")
    axes.set_title("Placements on the Pareto front", fontsize=9)
    _save(figure, path)


# Row names per arm kind, and what each row's effect is, from scratch and in a design of changes to a parent.
FOREST_ROW_WORDS = {"only": "alone", "drop": "on top"}
FOREST_PARENT_ROW_WORDS = {"only": "in place", "drop": "on top of the parent"}
FOREST_AXIS = "PSNR effect (dB): only - none (alone), uniform - drop (on top), uniform - none"
FOREST_PARENT_AXIS = "PSNR effect (dB): only - parent (in place of its blocks), parent - drop (on top of the parent)"


def _forest_axis(result: ExperimentResult) -> str:
    return FOREST_PARENT_AXIS if result.parent else FOREST_AXIS


def _forest_rows(result: ExperimentResult, block: str) -> tuple[list[str], dict[str, list[tuple[int, DesignedEffect]]]]:
    """The forest's row names from the top (every depth, then each group's two arm kinds, worded as
    ``FOREST_ROW_WORDS`` or, with a parent, ``FOREST_PARENT_ROW_WORDS``), only rows that hold an effect, and, per
    series (the block's attention effects and each of its controls'), each effect with its row."""
    effects = [e for e in result.effects if e.block == block and e.family in FOREST_FAMILIES]
    present = {(e.kind, e.group) for e in effects}
    keys: list[tuple[str, int | None]] = [("uniform", None)]
    keys += [(kind, g) for g in range(len(result.groups)) for kind in ("only", "drop")]
    keys = [key for key in keys if key in present]
    where = FOREST_PARENT_ROW_WORDS if result.parent else FOREST_ROW_WORDS
    names = ["every depth" if g is None else f"{where[kind]} at {group_text(result.groups[g])}" for kind, g in keys]
    series: dict[str, list[tuple[int, DesignedEffect]]] = {family: [] for family in FOREST_FAMILIES}
    for effect in effects:
        series[effect.family].append((keys.index((effect.kind, effect.group)), effect))
    return names, series


def _series_name(result: ExperimentResult, block: str, family: str) -> str:
    if family == "control":
        return f"{result.control}({block}), capacity control"
    return f"{blocks.mechanism_control(block)}, mechanism control" if family == "mechanism" else f"{block} (attention)"


def _forest_title(result: ExperimentResult, block: str) -> str:
    interval = result.interval
    return (f"{block}: PSNR effect by depth group ({interval.confidence:.0%} simultaneous over {interval.contrasts} "
            f"contrasts, {len(result.seeds)} seeds); band: ±{result.margin_db:g} dB")  # fmt: skip


def forest_png(result: ExperimentResult, block: str, path: Path) -> None:
    """Forest plot of one block's effects (attention and its controls side by side) with the ±margin band."""
    names, series = _forest_rows(result, block)
    figure, axes = plt.subplots(figsize=(7.5, 1.2 + 0.42 * len(names)))
    axes.axvspan(-result.margin_db, result.margin_db, color=TRIAL_COLOUR, alpha=0.25, lw=0)
    axes.axvline(0.0, color="#555555", lw=0.8)
    for offset, (family, rows) in zip(FOREST_OFFSETS, series.items(), strict=True):
        if not rows:
            continue
        y = np.array([row for row, _ in rows]) + offset
        estimate = np.array([e.estimate_db for _, e in rows])
        spread = np.array([[e.estimate_db - e.low_db for _, e in rows], [e.high_db - e.estimate_db for _, e in rows]])
        label = _series_name(result, block, family)
        axes.errorbar(estimate, y, xerr=spread, fmt="o", ms=4, capsize=2, color=FOREST_FAMILIES[family], label=label)
        for (_, effect), position in zip(rows, y, strict=True):
            axes.annotate(effect.verdict_text, (effect.high_db, position), xytext=(4, -3), textcoords="offset points",
                          fontsize=6, color=FOREST_FAMILIES[family])  # fmt: skip
    axes.set_yticks(range(len(names)), names, fontsize=8)
    axes.set_ylim(len(names) - 0.5, -0.5)
    axes.set_xlabel(_forest_axis(result))
    axes.set_title(_forest_title(result, block), fontsize=8)
    axes.grid(axis="x", alpha=0.3)
    axes.legend(fontsize=7, loc="best")
    _save(figure, path)


def forest_plotly(result: ExperimentResult, block: str) -> go.Figure:
    """The interactive forest plot of ``forest_png``."""
    names, series = _forest_rows(result, block)
    figure = go.Figure()
    figure.add_vrect(x0=-result.margin_db, x1=result.margin_db, fillcolor=TRIAL_COLOUR, opacity=0.25, line_width=0)
    figure.add_vline(x=0.0, line_color="#555555", line_width=1)
    for offset, (family, rows) in zip(FOREST_OFFSETS, series.items(), strict=True):
        if not rows:
            continue
        figure.add_trace(go.Scatter(
            x=[e.estimate_db for _, e in rows], y=[row + offset for row, _ in rows], mode="markers",
            marker={"color": FOREST_FAMILIES[family], "size": 8},
            error_x={"type": "data", "symmetric": False, "array": [e.high_db - e.estimate_db for _, e in rows],
                     "arrayminus": [e.estimate_db - e.low_db for _, e in rows]},
            name=_series_name(result, block, family),
            customdata=[[e.label, e.verdict_text, e.low_db, e.high_db] for _, e in rows],
            hovertemplate="%{customdata[0]}<br>%{x:+.3f} dB [%{customdata[2]:+.3f}, %{customdata[3]:+.3f}]"
                          "<br>%{customdata[1]}<extra></extra>",
        ))  # fmt: skip
    rows_axis = {"tickvals": list(range(len(names))), "ticktext": names, "autorange": "reversed"}
    figure.update_layout(title=_forest_title(result, block), xaxis_title=_forest_axis(result), yaxis=rows_axis)
    return figure


# In a design of changes to a trained parent, the removal and its split: capacity, gate, freshness.
RECOVERY_FAMILIES = (
    "attention",
    "attention - control",  # a block the parent does not hold: its controls are the from-scratch ones
    "attention - mechanism",
    "attention - freshness",
    "freshness - control",
)


def budget_curves_png(budgeted: BudgetedExperiment, block: str, path: Path) -> None:
    """Each attention effect of ``block`` against the budget it was read at, with its simultaneous interval: one
    panel per arm kind, one line per depth group; in a design of changes to a trained parent (the recovery curve)
    also one panel per control leg of the removal (``RECOVERY_FAMILIES``)."""
    first = budgeted.headline
    families = RECOVERY_FAMILIES if first.parent else ("attention",)
    drawn = [e for e in first.effects if e.block == block and e.family in families]
    panels_of = [
        (family, kind)
        for family in families
        for kind in ("uniform", "only", "drop")
        if any((e.family, e.kind) == (family, kind) for e in drawn)
    ]
    # Each panel its own scale: a removal before recovery can cost dB where its legs move by tenths.
    figure, panels = plt.subplots(1, len(panels_of), figsize=(4.0 * len(panels_of), 3.2), squeeze=False)
    for axes, (family, kind) in zip(panels[0], panels_of, strict=True):
        axes.axhspan(-first.margin_db, first.margin_db, color=TRIAL_COLOUR, alpha=0.25, lw=0)
        axes.axhline(0.0, color="#555555", lw=0.8)
        labels = dict.fromkeys(e.label for e in drawn if (e.family, e.kind) == (family, kind))
        for shift, label in enumerate(labels):
            effects = [next(e for e in result.effects if e.label == label) for result in budgeted.results]
            x = np.array(budgeted.budgets, dtype=float) * (1 + 0.02 * shift)  # side by side (but at 0)
            estimate = np.array([e.estimate_db for e in effects])
            spread = np.array(
                [[e.estimate_db - e.low_db for e in effects], [e.high_db - e.estimate_db for e in effects]]
            )
            axes.errorbar(x, estimate, yerr=spread, fmt="o-", ms=3, capsize=2, lw=1, label=label)
        if budgeted.budgets[0] == 0:  # a reading before training: linear up to the first budget along the run
            axes.set_xscale("symlog", linthresh=budgeted.budgets[1] if len(budgeted.budgets) > 1 else 1)
        else:
            axes.set_xscale("log")
        axes.set_xticks(budgeted.budgets, [str(b) for b in budgeted.budgets])
        axes.minorticks_off()
        axes.set_xlabel("training budget (iterations, read along one run)")
        axes.set_title(f"{block}: {kind}" if family == "attention" else f"{block}: {family}, {kind}", fontsize=8)
        axes.legend(fontsize=6, loc="best")
        axes.grid(alpha=0.3)
    for axes in panels[0]:
        axes.set_ylabel("PSNR effect (dB)")
    figure.suptitle(
        f"{block}: effects by budget ({first.interval.confidence:.0%} simultaneous over contrasts x budgets, "
        f"{len(first.seeds)} seeds); band: ±{first.margin_db:g} dB",
        fontsize=8,
    )
    _save(figure, path)
