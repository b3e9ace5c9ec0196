"""``nas report STUDY_FOLDER``: does attention help only where it helps? The evidence and a verdict.

Writes ``STUDY_FOLDER/report/``: ``index.html`` (self-contained, interactive, opens offline), ``report.md``,
``figures/*.png`` and ``pareto.csv`` (the front over the study's objectives, trials.csv's columns). Works on
a running study and on one with failed trials; it only reads the study's storage. Its key plots and verdict
are left in ``report/dashboard/`` for ``nas dashboard``, which shows them under Plots and Note (``--to-dashboard``
saves them into the study at once).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import plotly.offline

from nas.core import genotypes
from nas.report import analysis, dashboard, figures
from nas.search import studies
from nas.search.records import CSV_COLUMNS, Outcome
from nas.search.studies import StudyError, StudyFolder
from nas.sr import protocol

COUNTED_OUTCOMES = tuple(outcome.value for outcome in Outcome)


@dataclass(frozen=True)
class Report:
    folder: Path
    markdown: str
    front: pd.DataFrame
    labels: tuple[str, ...] = ()  # what the numbers measure
    verdict: tuple[str, ...] = ()  # the verdict's lines, numbers included

    def to_json(self) -> dict[str, Any]:
        """The verdict, labels and front as ``nas report --json`` prints them, with the report's paths."""
        front = self.front[list(CSV_COLUMNS)].sort_values("number")
        return {
            "report": {"html": str(self.folder / "index.html"), "markdown": str(self.folder / "report.md"),
                       "pareto_csv": str(self.folder / "pareto.csv")},
            "verdict": list(self.verdict),
            "labels": list(self.labels),
            "front": json.loads(front.to_json(orient="records")),
        }  # fmt: skip


def _labels(folder: StudyFolder, frame: pd.DataFrame) -> list[str]:
    """What the numbers measure: budget, data, devices, seeds, cost convention and trial counts."""
    space = folder.space()  # the validated space the study ran with, as pinned when it was created
    budget = space.proxy
    runs = folder.environment_runs()
    machines = sorted({f"{r['cpu']} ({r['cpu_count']} CPUs){', ' + ', '.join(r['gpus']) if r['gpus'] else ''}"
                       for r in runs})  # fmt: skip
    trained_on = sorted(set(frame["device"].dropna()))
    counts = frame["outcome"].value_counts().to_dict()
    count_text = ", ".join(f"{counts.get(o, 0)} {o}" for o in COUNTED_OUTCOMES)
    running = counts.get("running", 0)
    return [
        f"space `{space.name}`: scale ×{space.scale}, nf {space.channels}, {space.depth} depths",
        f"proxy budget: {budget.iterations} iterations × batch {budget.batch_size} × {budget.patch_size}² LR "
        f"patches, lr {budget.lr:g}, seeds {list(budget.seeds)}",
        f"data: train `{space.data.train}`, validation `{space.data.val}`; PSNR/SSIM on "
        "Y, border = scale, MATLAB-bicubic LR",
        "MACs: multiply-adds (1 MAC = 1 multiply + 1 add) of conv/linear/matmul/attention/upsampling for a "
        f"{protocol.COST_HR_OUTPUT} (fvcore); params: learnable parameters",
        f"trained on: {', '.join(trained_on) or '-'}; machines: {'; '.join(machines) or '-'}",
        f"trials: {count_text}" + (f", {running} still running" if running else ""),
    ]


def _dominance_text(done: pd.DataFrame, cost: str) -> list[str]:
    """Do mixed placements dominate the uniform ones? Front membership and hypervolume with and without them."""
    reference = analysis.reference_point(done, cost)
    uniform = done[done["baseline"].notna()]
    mixed = done[done["baseline"].isna() & ~done["genotype"].isin(set(uniform["genotype"]))]
    front = done[analysis.front_mask(done, ["psnr", cost])]
    on_front_uniform = int(front["genotype"].isin(set(uniform["genotype"])).sum())
    dominated = sum(
        not analysis.front_mask(pd.concat([point.to_frame().T, mixed]), ["psnr", cost])[0]
        for _, point in uniform.drop_duplicates("genotype").iterrows()
    )
    volumes = {name: analysis.hypervolume(rows, cost, reference) for name, rows in
               (("all", done), ("mixed only", mixed), ("uniform only", uniform))}  # fmt: skip
    share = volumes["mixed only"] / volumes["all"] if volumes["all"] > 0 else float("nan")
    answer = ("yes" if on_front_uniform == 0 and len(mixed) else
              "no" if volumes["mixed only"] <= volumes["uniform only"] else "partly")  # fmt: skip
    return [
        f"**Do mixed placements dominate the uniform ones ({cost})? {answer}.** "
        f"{dominated} of {uniform['genotype'].nunique()} uniform placements are dominated by a mixed one; the front "
        f"holds {len(front) - on_front_uniform} mixed and {on_front_uniform} uniform points.",
        f"Hypervolume (PSNR × {cost}, reference {reference.psnr:.3f} dB / {reference.cost:.4g}): all "
        f"{volumes['all']:.4f}, mixed only {volumes['mixed only']:.4f} ({share:.0%} of all), uniform only "
        f"{volumes['uniform only']:.4f}.",
    ]


def _verdict(done: pd.DataFrame, frame: pd.DataFrame, cost: str) -> tuple[list[str], analysis.PlacementEffects]:
    noise = analysis.seed_noise(frame)
    effects = analysis.placement_effects(frame)
    lines = _dominance_text(done, cost)
    if noise.std_db is None:
        lines.append("Seed noise: unknown (one seed; list several in `proxy.seeds` to measure it).")
    else:
        lines.append(f"Seed noise (yardstick): {noise.std_db:.3f} dB standard deviation over {noise.runs} runs of "
                     f"{noise.genotypes} repeated baselines.")  # fmt: skip
    if effects.residual_std_db is None:
        lines.append(f"Per-depth effects: not estimable yet ({effects.observations} trainings for "
                     f"{effects.coefficients} coefficients).")  # fmt: skip
    else:
        lines.append(f"Per-depth effects, relative to `none` (OLS on {effects.observations} trainings, "
                     f"residual σ {effects.residual_std_db:.3f} dB; 95% CI simultaneous over the "
                     f"{len(effects.table)} effects (Bonferroni); 'beyond noise' = CI excludes 0 and "
                     "|effect| > seed σ):")  # fmt: skip
        for depth, kind, evidence in analysis.depth_verdicts(effects, noise.std_db):
            lines.append(f"- depth {depth}: {kind}" + (f" ({evidence})" if evidence else ""))
    lines.append(f"Best in each {cost} band:")
    divisor = 1e9 if cost == "macs" else 1.0
    for band in analysis.cost_bands(frame, cost):
        best, uniform = band["best"], band["best_uniform"]
        uniform_text = f"; best uniform {uniform['baseline']} {uniform['psnr']:.3f} dB" if uniform is not None else ""
        lines.append(f"- {band['low'] / divisor:.4g}–{band['high'] / divisor:.4g}{'G' if divisor > 1 else ''}: "
                     f"`{best['genotype']}` {best['psnr']:.3f} dB{uniform_text}")  # fmt: skip
    return lines, effects


def _strip_html(front: pd.DataFrame, depths: list[str], colours: dict[str, str]) -> str:
    rows = []
    for _, row in front.sort_values("psnr", ascending=False).iterrows():
        cells = "".join(f'<td style="background:{colours[row[d]]}">{html.escape(row[d])}</td>' for d in depths)
        rows.append(f"<tr><td>{int(row['number'])}</td><td><code>{html.escape(row['genotype'])}</code></td>"
                    f"<td>{row['psnr']:.3f}</td><td>{row['ssim']:.4f}</td><td>{row['macs'] / 1e9:.3f}</td>"
                    f"<td>{int(row['params']):,}</td>{cells}</tr>")  # fmt: skip
    header = "".join(f"<th>{genotypes.depth_index(d)}</th>" for d in depths)
    return (f'<table class="front"><tr><th>trial</th><th>genotype</th><th>PSNR</th><th>SSIM</th><th>GMACs</th>'
            f"<th>params</th>{header}</tr>{''.join(rows)}</table>")  # fmt: skip


def _markdown(labels: list[str], verdict: list[str], front: pd.DataFrame, pngs: list[str]) -> str:
    table = ["| trial | genotype | PSNR | SSIM | GMACs | params |", "|---|---|---|---|---|---|"]
    for _, row in front.sort_values("psnr", ascending=False).iterrows():
        table.append(f"| {int(row['number'])} | `{row['genotype']}` | {row['psnr']:.3f} | {row['ssim']:.4f} | "
                     f"{row['macs'] / 1e9:.3f} | {int(row['params']):,} |")  # fmt: skip
    images = [f"![{name}](figures/{name})" for name in pngs]
    return "\n".join(["# Does attention help only where it helps?", "", "## Verdict", "", *verdict, "",
                      "## What the numbers measure", "", *[f"- {label}" for label in labels], "",
                      "## Pareto front", "", *table, "", "## Figures", "", *images, ""])  # fmt: skip


def _html(labels: list[str], verdict: list[str], plots: list[go.Figure], strips: str) -> str:
    body = "".join(f"<p>{html.escape(line).replace('**', '')}</p>" for line in verdict)
    label_items = "".join(f"<li>{html.escape(label)}</li>" for label in labels)
    divs = "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in plots)
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Attention placement report</title>"
        f"<script>{plotly.offline.get_plotlyjs()}</script>"
        "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}table.front td,table.front th"
        "{border:1px solid #ccc;padding:2px 5px;font-size:12px}table.front{border-collapse:collapse}</style>"
        f"</head><body><h1>Does attention help only where it helps?</h1><h2>Verdict</h2>{body}"
        f"<h2>What the numbers measure</h2><ul>{label_items}</ul>{divs}<h2>Pareto front</h2>{strips}</body></html>"
    )


def _nothing_to_report(folder: StudyFolder, frame: pd.DataFrame) -> StudyError:
    """Why a study has no complete trial: the constraints exclude every trial so far, or none has finished."""
    finished = frame[frame["outcome"].isin(COUNTED_OUTCOMES)] if not frame.empty else frame
    if not finished.empty and set(finished["outcome"]) == {Outcome.INFEASIBLE.value}:
        limits = ", ".join(f"{name} {limit:.4g}" for name, limit in folder.space().constraints.items())
        return StudyError(
            f"{folder.root}: the space's constraints ({limits}) exclude every trial so far ({len(finished)} "
            "infeasible, "
            "none trained); raise the limits or narrow the choices to cheaper blocks, and start anew with "
            "`nas search --fresh`"
        )
    return StudyError(f"{folder.root}: the study has no complete trial yet; let `nas search` run, then report")


def build(folder: StudyFolder, to_dashboard: bool = False) -> Report:
    """Writes the report of the study in ``folder``; the study's storage is written only when ``to_dashboard``.

    The plots and note the dashboard shows are left in ``report/dashboard/``; ``to_dashboard`` also saves them
    into the study at once (``nas dashboard`` does when it starts).

    Raises:
        StudyError: no study in the folder, or no complete trial yet.
    """
    source = studies.load_study(folder)
    frame = analysis.trials_frame(source)
    done = analysis.complete(frame) if not frame.empty else frame
    if done.empty:
        raise _nothing_to_report(folder, frame)
    objectives = list(source.metric_names or ["psnr", "macs"])
    costs = [c for c in ("macs", "params", "latency_ms") if done[c].notna().all()]
    main_cost = objectives[1] if len(objectives) > 1 else "macs"
    front = done[analysis.front_mask(done, objectives)]
    depths = analysis.depth_columns(frame)
    out = folder.root / "report"
    (out / "figures").mkdir(parents=True, exist_ok=True)
    front[list(CSV_COLUMNS)].sort_values("number").to_csv(out / "pareto.csv", index=False)

    labels = _labels(folder, frame)
    verdict, effects = _verdict(done, frame, main_cost)
    curve = analysis.hypervolume_curve(frame, main_cost)
    frequency = analysis.attention_frequency(frame, front)
    importance = analysis.depth_importance(source)
    colours = figures.block_colours(sorted({b for d in depths for b in frame[d].dropna()}))

    plots: dict[str, go.Figure] = {}
    for cost in costs:
        figures.pareto_png(done, cost, out / "figures" / f"pareto_{cost}.png")
        plots[f"pareto-{cost}"] = figures.pareto_plotly(done, cost)
    figures.hypervolume_png(curve, main_cost, out / "figures" / "hypervolume.png")
    plots["hypervolume"] = figures.hypervolume_plotly(curve, main_cost)
    if effects.residual_std_db is not None:
        figures.effects_png(effects.table, out / "figures" / "placement_effects.png")
        plots["placement-effects"] = figures.effects_plotly(effects.table)
    figures.frequency_png(frequency, out / "figures" / "attention_frequency.png")
    plots["attention-frequency"] = figures.frequency_plotly(frequency)
    if importance:
        figures.importance_png(importance, out / "figures" / "importance.png")
        plots["importance"] = figures.importance_plotly(importance)
    figures.strips_png(front, depths, colours, out / "figures" / "front_placements.png")

    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    markdown = _markdown(labels, verdict, front, pngs)
    (out / "report.md").write_text(markdown)
    (out / "index.html").write_text(_html(labels, verdict, list(plots.values()), _strip_html(front, depths, colours)))
    dashboard.save_report(folder, plots, markdown.split("## Figures")[0])
    if to_dashboard:
        dashboard.push_report(folder)
    return Report(out, markdown, front, tuple(labels), tuple(verdict))
