"""The report's Markdown as HTML: the subset ``nas report`` writes, every character of text escaped.

``report.md`` is the report's source; ``index.html`` shows the same text, so its verdict reads as the Markdown
does on GitHub: lists as lists, ``code`` as code, tables as tables. The subset:

- blocks: ATX headings (``## Verdict``), paragraphs (adjacent lines join, a blank line ends one), bullet lists
  (``-``, ``*`` or ``+``; an item indented deeper than the one above it nests under it), fenced code blocks
  (three or more backticks or tildes) and pipe tables (a header row, a delimiter row such as ``|---|:-:|``, then
  body rows);
- inline: code spans (any run of backticks, closed by a run of the same length), ``**bold**``, ``*italic*``,
  links ``[text](url)`` and images ``![alt](src)``, and backslash escapes of punctuation (``\\*``, ``\\|``).

Raw HTML is not passed through: ``<`` and ``&`` show as written, in text and in code alike. Underscores are
literal (the report names keys such as ``max_macs``). A table cell may hold a pipe escaped as ``\\|``, as GitHub
reads it (also inside code), or unescaped inside a code span, which GitHub would split but this reader keeps
whole. A link whose URL names a scheme other than http, https or mailto is shown as its text alone.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})[ \t]*([^`\s]*)[^`]*$")
_ITEM = re.compile(r"^( *)[-*+](?:[ \t]+(.*))?$")
_DELIMITER_CELL = re.compile(r"^:?-+:?$")
_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
_SAFE_SCHEMES = ("http", "https", "mailto")
# Inline HTML already made (code spans, escaped characters) waits in the text as a placeholder, so that emphasis
# and links are matched on the rest only; the two private-use characters never reach the page.
_OPEN, _CLOSE = "\ue000", "\ue001"
_PLACEHOLDER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")
_LINK = re.compile(r"(!?)\[([^\]]*)\]\(([^()\s]+)\)")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*", re.S)
_ITALIC = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])", re.S)


def to_html(text: str) -> str:
    """The HTML of a Markdown text of the report's subset (a fragment: no ``<html>`` or ``<body>``)."""
    lines = text.replace(_OPEN, "\ufffd").replace(_CLOSE, "\ufffd").expandtabs(4).splitlines()
    parts: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        if not line.strip():
            index += 1
        elif _FENCE.match(line):
            index = _code_block(lines, index, parts)
        elif heading := _HEADING.match(line):
            level = len(heading[1])
            parts.append(f"<h{level}>{inline(heading[2] or '')}</h{level}>")
            index += 1
        elif _starts_table(lines, index):
            index = _table(lines, index, parts)
        elif _ITEM.match(line):
            index = _bullet_list(lines, index, parts)
        else:
            index = _paragraph(lines, index, parts)
    return "\n".join(parts)


def _starts_block(lines: list[str], index: int) -> bool:
    """Whether ``lines[index]`` ends a paragraph by opening another block (a paragraph stops at a list item too,
    as the report writes "Best in each band:" straight above its list)."""
    line = lines[index]
    return bool(_FENCE.match(line) or _HEADING.match(line) or _ITEM.match(line)) or _starts_table(lines, index)


def _paragraph(lines: list[str], index: int, parts: list[str]) -> int:
    gathered = [lines[index].strip()]
    index += 1
    while index < len(lines) and lines[index].strip() and not _starts_block(lines, index):
        gathered.append(lines[index].strip())
        index += 1
    parts.append(f"<p>{inline(chr(10).join(gathered))}</p>")
    return index


def _code_block(lines: list[str], index: int, parts: list[str]) -> int:
    """A fenced block: its lines verbatim (escaped) up to a closing fence of the same character and at least the
    opening's length, or to the end of the text when it is never closed."""
    opening = _FENCE.match(lines[index])
    assert opening is not None  # the caller matched it
    indent, fence, language = len(opening[1]), opening[2], opening[3]
    closing = re.compile(f"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \\t]*$")
    body = []
    index += 1
    while index < len(lines) and not closing.match(lines[index]):
        line = lines[index]
        body.append(line[min(indent, len(line) - len(line.lstrip(" "))) :])  # the opening fence's indent, no more
        index += 1
    attribute = f' class="language-{html.escape(language)}"' if language else ""
    text = "".join(f"{html.escape(line)}\n" for line in body)
    parts.append(f"<pre><code{attribute}>{text}</code></pre>")
    return index + 1


def _bullet_list(lines: list[str], index: int, parts: list[str]) -> int:
    """A list and the lists nested in it. An item's text runs on over indented lines that open no block; a blank
    line ends the list unless an item follows it."""
    items: list[tuple[int, list[str]]] = []  # (indent, lines of the item's text)
    while index < len(lines):
        line = lines[index]
        item = _ITEM.match(line)
        if item:
            items.append((len(item[1]), [item[2] or ""]))
        elif line.strip() and line.startswith(" ") and not _starts_block(lines, index):
            items[-1][1].append(line.strip())
        elif not line.strip() and index + 1 < len(lines) and _ITEM.match(lines[index + 1]):
            pass
        else:
            break
        index += 1
    html_parts: list[str] = []
    open_indents: list[int] = []  # the indent of each list still open, outermost first
    for indent, text in items:
        if not open_indents or indent > open_indents[-1]:
            html_parts.append("<ul>")  # nested inside the item still open, or the outermost list
            open_indents.append(indent)
        else:
            while len(open_indents) > 1 and indent < open_indents[-1]:
                html_parts.append("</li></ul>")
                open_indents.pop()
            html_parts.append("</li>")
        html_parts.append(f"<li>{inline(chr(10).join(text))}")
    html_parts.append("</li></ul>" * len(open_indents))
    parts.append("".join(html_parts))
    return index


def _starts_table(lines: list[str], index: int) -> bool:
    """A header row with a pipe, then a delimiter row with as many cells."""
    if index + 1 >= len(lines) or "|" not in lines[index]:
        return False
    delimiter = split_row(lines[index + 1])
    if "|" not in lines[index + 1] or not all(_DELIMITER_CELL.match(cell) for cell in delimiter):
        return False
    return len(delimiter) == len(split_row(lines[index]))


def _table(lines: list[str], index: int, parts: list[str]) -> int:
    header = split_row(lines[index])
    alignments = [_alignment(cell) for cell in split_row(lines[index + 1])]
    index += 2
    rows = []
    while index < len(lines) and lines[index].strip() and "|" in lines[index]:
        cells = split_row(lines[index])
        rows.append((cells + [""] * len(header))[: len(header)])  # a short row is filled, a long one cut
        index += 1

    def row_html(cells: list[str], tag: str) -> str:
        cells_html = "".join(
            f"<{tag}{align}>{inline(cell)}</{tag}>" for cell, align in zip(cells, alignments, strict=True)
        )
        return f"<tr>{cells_html}</tr>"

    body = "".join(row_html(row, "td") for row in rows)
    parts.append(f"<table><thead>{row_html(header, 'th')}</thead><tbody>{body}</tbody></table>")
    return index


def _alignment(delimiter: str) -> str:
    left, right = delimiter.startswith(":"), delimiter.endswith(":")
    align = "center" if left and right else "right" if right else "left" if left else None
    return f' style="text-align:{align}"' if align else ""


def split_row(line: str) -> list[str]:
    """The cells of a table row: split at pipes that are neither escaped nor inside a code span; an escaped pipe
    becomes a plain one (inside code too); the outer pipes are optional."""
    text = line.strip()
    cells, current, index = [], [], 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] == "|":
            current.append("|")
            index += 2
            continue
        if char == "`":
            run = _run_length(text, index)
            close = _closing_run(text, index + run, run)
            if close is not None:
                current.append(text[index : close + run].replace("\\|", "|"))
                index = close + run
                continue
            current.append(text[index : index + run])
            index += run
            continue
        if char == "|":
            cells.append("".join(current))
            current = []
        elif char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])  # another escape: left for the inline reader
            index += 2
            continue
        else:
            current.append(char)
        index += 1
    cells.append("".join(current))
    if text.startswith("|"):
        cells = cells[1:]
    if len(cells) > 1 and text.endswith("|") and not text.endswith("\\|") and cells[-1] == "":
        cells = cells[:-1]
    return [cell.strip() for cell in cells]


def _run_length(text: str, index: int) -> int:
    end = index
    while end < len(text) and text[end] == "`":
        end += 1
    return end - index


def _closing_run(text: str, start: int, length: int) -> int | None:
    """Where the first run of exactly ``length`` backticks at or after ``start`` begins, or None."""
    index = start
    while index < len(text):
        if text[index] == "`":
            run = _run_length(text, index)
            if run == length:
                return index
            index += run
        else:
            index += 1
    return None


def inline(text: str) -> str:
    """The HTML of one block's text: code spans, escapes, links, images, bold and italic; the rest escaped."""
    made: list[str] = []  # inline HTML already made, each waiting as a placeholder

    def hold(fragment: str) -> str:
        made.append(fragment)
        return f"{_OPEN}{len(made) - 1}{_CLOSE}"

    pieces: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and text[index + 1 : index + 2] in _PUNCTUATION:
            pieces.append(hold(html.escape(text[index + 1])))
            index += 2
        elif char == "`":
            run = _run_length(text, index)
            close = _closing_run(text, index + run, run)
            if close is None:
                pieces.append(html.escape(text[index : index + run]))  # no closing run: literal backticks
            else:
                pieces.append(hold(f"<code>{html.escape(_code_content(text[index + run : close]))}</code>"))
                run = close + run - index
            index += run
        else:
            pieces.append(html.escape(char))
            index += 1
    escaped = "".join(pieces)
    escaped = _LINK.sub(lambda match: _link(match, hold), escaped)
    escaped = _BOLD.sub(r"<strong>\1</strong>", escaped)
    escaped = _ITALIC.sub(r"<em>\1</em>", escaped)
    while _PLACEHOLDER.search(escaped):  # a link's text may hold a code span: placeholders within placeholders
        escaped = _PLACEHOLDER.sub(lambda match: made[int(match[1])], escaped)
    return escaped


def _code_content(content: str) -> str:
    """A code span's text: line ends read as spaces, and one space stripped from each end when both have one (so
    `` `` `x` `` `` can show backticks)."""
    content = content.replace("\n", " ")
    if len(content) > 2 and content.startswith(" ") and content.endswith(" ") and content.strip():
        return content[1:-1]
    return content


def _link(match: re.Match[str], hold: Callable[[str], str]) -> str:
    """A link or image from escaped text; a URL with an unsafe scheme (``javascript:``) keeps only the text, and
    one that holds a code span is no link."""
    image, label, url = match[1], match[2], match[3]
    if _OPEN in url:
        return match[0]
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*):", html.unescape(url))
    if scheme and scheme[1].lower() not in _SAFE_SCHEMES:
        return label
    if image:
        return hold(f'<img src="{url}" alt="{_PLACEHOLDER.sub("", label)}">')  # an attribute holds no markup
    return hold(f'<a href="{url}">{label}</a>')
