"""Tables for people, values for programs.

On a terminal: columns measured in display cells (a CJK character takes two), fitted to the
terminal's width by truncating the widest column with an ellipsis (``wide`` shows all), and
marked rows coloured unless ``NO_COLOR`` is set. Anywhere else (a pipe, a file): tab-separated
values, one row a line, nothing truncated, no colour. Cells are already ``terminal_safe``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Sequence
from typing import TextIO

ELLIPSIS = "…"
_GAP = "  "
_MIN_WIDTH = 4
# Why a row stands out: a finding, a decision that differs, something merely notable.
_COLOURS = {"finding": "\x1b[31m", "difference": "\x1b[33m", "note": "\x1b[36m"}
_BOLD, _RESET = "\x1b[1m", "\x1b[0m"


def display_width(text: str) -> int:
    from wcwidth import wcswidth

    width = wcswidth(text)
    return width if width >= 0 else len(text)


def fit(text: str, width: int) -> str:
    """``text`` in exactly ``width`` display cells: padded, or cut with an ellipsis."""
    from wcwidth import wcwidth

    used = display_width(text)
    if used <= width:
        return text + " " * (width - used)
    kept, used = [], 0
    for char in text:
        cells = max(wcwidth(char), 0)
        if used + cells > width - 1:
            break
        kept.append(char)
        used += cells
    return "".join(kept) + ELLIPSIS + " " * (width - 1 - used)


def column_widths(
    headers: Sequence[str], rows: Sequence[Sequence[str]], limit: int | None
) -> list[int]:
    """Each column's width; with a ``limit``, the widest shrinks (one cell at a time, so wide
    columns level out) until the table fits or every column is at its minimum."""
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(c)) for w, c in zip(widths, row, strict=True)]
    if limit is None:
        return widths
    excess = sum(widths) + len(_GAP) * (len(widths) - 1) - limit
    while excess > 0:
        widest = max(range(len(widths)), key=lambda i: widths[i])
        if widths[widest] <= _MIN_WIDTH:
            break
        widths[widest] -= 1
        excess -= 1
    return widths


def colour_wanted(stream: TextIO) -> bool:
    """https://no-color.org: any non-empty NO_COLOR turns colour off; so does a dumb terminal."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def paint(text: str, mark: str | None) -> str:
    """``text`` in the colour of ``mark`` when stdout is a colour terminal; else as is."""
    if mark not in _COLOURS or not colour_wanted(sys.stdout):
        return text
    return f"{_COLOURS[mark]}{text}{_RESET}"


def render_terminal(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    marks: Sequence[str | None],
    *,
    width: int | None,
    colour: bool,
) -> str:
    widths = column_widths(headers, rows, width)

    def line(cells: Sequence[str]) -> str:
        return _GAP.join(fit(c, w) for c, w in zip(cells, widths, strict=True)).rstrip()

    head = line([h.upper() for h in headers])
    lines = [f"{_BOLD}{head}{_RESET}" if colour else head]
    for row, mark in zip(rows, marks, strict=True):
        text = line(row)
        lines.append(f"{_COLOURS[mark]}{text}{_RESET}" if colour and mark in _COLOURS else text)
    return "\n".join(lines) + "\n"


def render_tsv(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["\t".join(h.upper() for h in headers), *("\t".join(row) for row in rows)]
    return "\n".join(lines) + "\n"


def write_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    marks: Sequence[str | None] | None = None,
    *,
    wide: bool = False,
) -> None:
    out = sys.stdout
    if not out.isatty():
        out.write(render_tsv(headers, rows))
        return
    limit = None if wide else shutil.get_terminal_size().columns
    out.write(
        render_terminal(
            headers, rows, marks or [None] * len(rows), width=limit, colour=colour_wanted(out)
        )
    )
