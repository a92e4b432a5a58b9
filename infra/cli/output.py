"""Printing: one JSON document with ``--json``, tables for people otherwise (``table.py``)."""

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


def emit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    marks: Sequence[str | None] | None = None,
    *,
    wide: bool = False,
) -> None:
    """A table: fitted to a terminal, tab-separated into a pipe (``table.write_table``).
    ``marks`` says per row why it stands out (``finding``, ``difference``), or None."""
    from recovery_ledger.infra.cli.table import write_table

    # A pipe gets an empty field for "nothing"; a person gets a dash.
    tty = sys.stdout.isatty()
    blank = "-" if tty else ""
    cells = [[_cell(value, blank, tty) for value in row] for row in rows]
    write_table(headers, cells, marks, wide=wide)


def _cell(value: Any, blank: str, tty: bool) -> str:
    from datetime import datetime

    if value is None:
        return blank
    if isinstance(value, datetime):
        return human_time(value) if tty else str(iso(value))
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


def human_time(value: Any) -> str:
    """A moment for a person's table: UTC to the second, ``2026-11-25 21:36:39``."""
    from datetime import UTC

    text: str = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return text
