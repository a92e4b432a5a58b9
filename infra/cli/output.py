"""Printing: one JSON document with ``--json``, aligned tables for people otherwise."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from recovery_ledger.projections.timestamps import iso

__all__ = ["emit_json", "emit_table", "iso", "terminal_safe"]


def emit_json(document: Any) -> None:
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")
    sys.stdout.flush()


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    sys.stdout.write("\n".join(line.rstrip() for line in lines) + "\n")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return terminal_safe(str(value))


def terminal_safe(text: str) -> str:
    """Recorded text as data (contract section 5): every control character, the newline and
    ESC included, is shown escaped (``\\x1b``), so nothing recorded can move a terminal's cursor."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
