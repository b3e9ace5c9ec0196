"""The report's Markdown as HTML (``nas.report.markdown_html``): the subset the report writes, escaped, well formed."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from nas.report import report_pages
from nas.report.markdown_html import inline, split_row, to_html

VOID = {"img"}


class Tree(HTMLParser):
    """The elements of an HTML fragment, checked to close in order; ``text`` is what a reader sees."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[str] = []
        self.seen: list[str] = []  # every start tag, with its ancestors: "ul>li>code"
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.seen.append(">".join([*self.open, tag]))
        if tag not in VOID:
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open[-1] == tag, f"</{tag}> closes {self.open}"
        self.open.pop()

    def handle_data(self, data: str) -> None:
        self.text += data


def parsed(fragment: str) -> Tree:
    tree = Tree()
    tree.feed(fragment)
    tree.close()
    assert tree.open == [], f"unclosed {tree.open}"
    return tree


def test_text_and_code_are_escaped_and_no_markup_passes_through() -> None:
    fragment = to_html("A <script>alert(1)</script> & `x < y && z > 0` done.\n\n```\nif a < b & c:\n    `q`\n```")
    assert "<script>" not in fragment and "&lt;script&gt;" in fragment
    assert "<code>x &lt; y &amp;&amp; z &gt; 0</code>" in fragment
    assert "<pre><code>if a &lt; b &amp; c:\n    `q`\n</code></pre>" in fragment
    tree = parsed(fragment)
    assert tree.seen == ["p", "p>code", "pre", "pre>code"]
    assert "A <script>alert(1)</script> & x < y && z > 0 done." in tree.text  # what the reader sees


@pytest.mark.parametrize(
    ("row", "cells"),
    [
        ("| `a|b` | c |", ["`a|b`", "c"]),  # a pipe inside code does not split the cell
        (r"| `a\|b` | x \| y |", ["`a|b`", "x | y"]),  # an escaped pipe is a pipe, also inside code
        ("a | b", ["a", "b"]),  # outer pipes are optional
        ("| `` a|`b `` | `unclosed | c |", ["`` a|`b ``", "`unclosed", "c"]),  # a run closes on the same length only
        (r"| a \* b | \\ |", [r"a \* b", "\\\\"]),  # other escapes are left to the inline reader
    ],
)
def test_table_rows_split_at_pipes_outside_code(row: str, cells: list[str]) -> None:
    assert split_row(row) == cells


def test_a_table_with_pipes_and_escapes_in_its_cells() -> None:
    text = "| effect | interval | note |\n|:---|:---:|---:|\n| `a|b` | [−0.1, +0.2] | <b> & `x\\|y` |\n| short |"
    tree = parsed(to_html(text))
    assert tree.seen[:3] == ["table", "table>thead", "table>thead>tr"]
    assert tree.seen.count("table>tbody>tr>td") == 6  # the short row is filled to three cells
    assert "table>tbody>tr>td>code" in tree.seen
    fragment = to_html(text)
    assert '<td style="text-align:left"><code>a|b</code></td>' in fragment
    assert '<td style="text-align:center">[−0.1, +0.2]</td>' in fragment
    assert '<td style="text-align:right">&lt;b&gt; &amp; <code>x|y</code></td>' in fragment
    assert '<th style="text-align:right">note</th>' in fragment


def test_nested_lists_paragraphs_and_emphasis() -> None:
    text = (
        "**Do mixed placements beat uniform ones?** paired by seed.\n"
        "Best in each band:\n"
        "- against `uniform:ca`: **yes**\n"
        "  - `x2.c16.u4:ca-pa` 30.1 dB → *better*\n"
        "  - `x2.c16.u4:pa-ca` 30.0 dB\n"
        "- against `uniform:pa`: **no**\n"
        "\n"
        "2 * 3 * 4 and none*2 and 5*6 stay as written; \\*not emphasis\\*."
    )
    fragment = to_html(text)
    tree = parsed(fragment)
    assert tree.seen.count("ul>li") == 2 and tree.seen.count("ul>li>ul>li") == 2
    assert tree.seen.count("ul>li>ul>li>code") == 2 and tree.seen.count("ul>li>strong") == 2
    assert tree.seen.count("ul>li>ul>li>em") == 1
    assert fragment.startswith("<p><strong>Do mixed placements beat uniform ones?</strong> paired by seed.\n")
    assert "Best in each band:</p>\n<ul>" in fragment  # a list item ends the paragraph above it
    assert "<p>2 * 3 * 4 and none*2 and 5*6 stay as written; *not emphasis*.</p>" in fragment
    assert "`" not in tree.text and "- " not in tree.text and "**" not in tree.text


def test_code_spans_of_several_backticks_links_and_headings() -> None:
    assert inline("``a ` b`` and ` `` `") == "<code>a ` b</code> and <code>``</code>"
    assert inline("a `lone backtick") == "a `lone backtick"
    assert inline("[figures](figures/a.png?x=1&y=2)") == '<a href="figures/a.png?x=1&amp;y=2">figures</a>'
    assert inline("![pareto](figures/pareto_macs.png)") == '<img src="figures/pareto_macs.png" alt="pareto">'
    assert inline("[click](javascript:alert)") == "click"  # no script URL becomes a link
    assert inline("**`a2b` only**") == "<strong><code>a2b</code> only</strong>"
    assert to_html("## Designed experiment <1>") == "<h2>Designed experiment &lt;1&gt;</h2>"
    assert to_html("#not a heading") == "<p>#not a heading</p>"
    assert to_html("~~~\nx\n") == "<pre><code>x\n</code></pre>"  # an unclosed fence runs to the end


def test_the_report_writes_one_paragraph_per_verdict_line_and_keeps_its_lists_together() -> None:
    verdict = ["First line.", "Second line.", "Best in each macs band:", "- a", "  - b", "- c", "| x |", "|---|",
               "| 1 |", "```\ncode\n\nblock\n```", "Last line."]  # fmt: skip
    spaced = report_pages.paragraphs(verdict)
    assert spaced == ["First line.", "", "Second line.", "", "Best in each macs band:", "", "- a", "  - b", "- c",
                      "", "| x |", "|---|", "| 1 |", "", "```\ncode\n\nblock\n```", "", "Last line."]  # fmt: skip
    tree = parsed(to_html("\n".join(spaced)))
    assert tree.seen == ["p", "p", "p", "ul", "ul>li", "ul>li>ul", "ul>li>ul>li", "ul>li", "table", "table>thead",
                         "table>thead>tr", "table>thead>tr>th", "table>tbody", "table>tbody>tr", "table>tbody>tr>td",
                         "pre", "pre>code", "p"]  # fmt: skip
    assert tree.text.count("code\n\nblock") == 1
