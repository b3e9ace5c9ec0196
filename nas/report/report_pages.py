"""The report's two pages from its parts: ``report.md`` (Markdown) and ``index.html`` (the same Markdown as HTML, with
the plotly figures and the front as a coloured table), both rebuilt byte for byte from the same study."""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd
import plotly
import plotly.graph_objects as go

from nas.core import genotypes, objectives
from nas.core.objectives import OBJECTIVES
from nas.report import markdown_html
from nas.report.experiment_section import Section


def _front_columns(costs: list[str]) -> list[str]:
    """The front table's columns after trial and genotype: the maximised objectives, SSIM, then ``costs``."""
    return [*objectives.maximized(), "ssim", *costs]


def _heading(column: str) -> str:
    return "SSIM" if column == "ssim" else OBJECTIVES[column].column[0]


def _cells(row: pd.Series, columns: list[str]) -> list[str]:
    """A front trial's cells of ``columns``, each as its objective's column shows it."""
    return [f"{row[c]:.4f}" if c == "ssim" else OBJECTIVES[c].cell(row[c]) for c in columns]


def strip_html(front: pd.DataFrame, depths: list[str], colours: dict[str, str], costs: list[str]) -> str:
    columns = _front_columns(costs)
    rows = []
    for _, row in front.sort_values("psnr", ascending=False).iterrows():
        cells = "".join(f'<td style="background:{colours[row[d]]}">{html.escape(row[d])}</td>' for d in depths)
        values = "".join(f"<td>{cell}</td>" for cell in _cells(row, columns))
        trial = f"<td>{int(row['number'])}</td><td><code>{html.escape(row['genotype'])}</code></td>"
        rows.append(f"<tr>{trial}{values}{cells}</tr>")
    header = "".join(f"<th>{genotypes.depth_index(d)}</th>" for d in depths)
    headings = "".join(f"<th>{_heading(c)}</th>" for c in columns)
    return f'<table class="front"><tr><th>trial</th><th>genotype</th>{headings}{header}</tr>{"".join(rows)}</table>'


PUBLISHED_HEADING = "Published networks (reference costs)"


def markdown(
    labels: list[str],
    verdict: list[str],
    designed: Section | None,
    front: pd.DataFrame,
    pngs: list[str],
    costs: list[str],
    published: Sequence[str] = (),
) -> str:
    """``report.md``; ``published``: the lines on the published networks (``published_networks.table_lines``), a
    section of their own where there are any."""
    columns = _front_columns(costs)
    table = [f"| trial | genotype | {' | '.join(map(_heading, columns))} |", f"|---|---|{'---|' * len(columns)}"]
    for _, row in (front.sort_values("psnr", ascending=False) if not front.empty else front).iterrows():
        table.append(f"| {int(row['number'])} | `{row['genotype']}` | {' | '.join(_cells(row, columns))} |")
    images = [f"![{name}](figures/{name})" for name in pngs]
    experiment = ["## Designed experiment", "", *paragraphs(designed.lines), ""] if designed else []
    sections = [
        ["# Does attention help only where it helps?", ""],
        ["## Verdict", "", *paragraphs(verdict), "", *experiment],
        ["## What the numbers measure", "", *[f"- {label}" for label in labels], ""],
        ["## Pareto front (single search runs, not confirmed)", "", *table, ""],
        [f"## {PUBLISHED_HEADING}", "", *paragraphs(list(published)), ""] if published else [],
        ["## Figures", "", *images, ""],
    ]
    return "\n".join(line for section in sections for line in section)


def paragraphs(lines: list[str]) -> list[str]:
    """``lines`` as Markdown with one paragraph per line: a blank line between two lines unless both are list items
    (``- ``, nested ones indented) or both table rows, which a blank line would split (Markdown joins adjacent
    lines). A line may hold a whole block (a fenced code block, with its line ends)."""

    def kind(line: str) -> str | None:
        return "item" if line.lstrip().startswith("- ") else "row" if line.startswith("|") else None

    spaced: list[str] = []
    for line in lines:
        if spaced and (kind(line) is None or kind(line) != kind(spaced[-1])):
            spaced.append("")
        spaced.append(line)
    return spaced


# Markdown made HTML (verdict, labels, experiment): its lists, code and tables styled like the front's table.
REPORT_STYLE = (
    "body{font-family:sans-serif;max-width:1100px;margin:auto}table.front td,table.front th,.markdown td,"
    ".markdown th{border:1px solid #ccc;padding:2px 5px;font-size:12px}table.front,.markdown table"
    "{border-collapse:collapse}code{background:#f3f3f3;padding:0 2px}pre{background:#f3f3f3;padding:6px;"
    "overflow-x:auto}"
)


def _markdown_section(section_id: str, lines: list[str]) -> str:
    """The report's Markdown ``lines`` (one paragraph per line, lists and tables kept) as HTML."""
    return f'<section id="{section_id}" class="markdown">{markdown_html.to_html(chr(10).join(lines))}</section>'


def _plot_divs(plots: list[go.Figure], prefix: str) -> str:
    """The plots as HTML divs that a rebuild of the same study writes byte for byte: each div's id is its place
    (``PREFIX-N``; plotly would draw a random one) and the figures' JSON comes from one encoder, the standard
    library's (plotly's default picks orjson where it is installed, which writes non-ASCII text unescaped)."""
    engine = plotly.io.json.config.default_engine
    plotly.io.json.config.default_engine = "json"
    try:
        return "".join(
            f.to_html(full_html=False, include_plotlyjs=False, div_id=f"{prefix}-{index}")
            for index, f in enumerate(plots, 1)
        )
    finally:
        plotly.io.json.config.default_engine = engine


def html_page(
    labels: list[str],
    verdict: list[str],
    designed: Section | None,
    plots: list[go.Figure],
    strips: str,
    published: Sequence[str] = (),
) -> str:
    experiment = ""
    if designed:
        experiment = (
            f"<h2>Designed experiment</h2>{_markdown_section('experiment', paragraphs(designed.lines))}"
            f"{_plot_divs(list(designed.plots.values()), 'experiment-plot')}"
        )
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Attention placement report</title>"
        f"<script>{plotly.offline.get_plotlyjs()}</script><style>{REPORT_STYLE}</style>"
        f"</head><body><h1>Does attention help only where it helps?</h1>"
        f"<h2>Verdict</h2>{_markdown_section('verdict', paragraphs(verdict))}{experiment}"
        f"<h2>What the numbers measure</h2>{_markdown_section('labels', [f'- {label}' for label in labels])}"
        f"{_plot_divs(plots, 'plot')}<h2>Pareto front (single search runs, not confirmed)</h2>{strips}"
        + (
            f"<h2>{PUBLISHED_HEADING}</h2>{_markdown_section('published', paragraphs(list(published)))}"
            if published
            else ""
        )
        + "</body></html>"
    )
