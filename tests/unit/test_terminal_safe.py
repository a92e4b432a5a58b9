"""Recorded text reaches a terminal as data (contract section 5, version 2)."""

from __future__ import annotations

import pytest

from recovery_ledger.infra.cli.output import terminal_safe


@pytest.mark.parametrize(
    ("recorded", "shown"),
    [
        ("\x1b[2J", "\\x1b[2J"),
        ("line\nbreak", "line\\x0abreak"),
        ("bell\x07", "bell\\x07"),
        ("tab\there", "tab\\x09here"),
        ("bidi\u202etxt", "bidi\\u202etxt"),
        ("\x9b31m", "\\x9b31m"),
    ],
)
def test_control_characters_are_shown_escaped(recorded: str, shown: str) -> None:
    assert terminal_safe(recorded) == shown


def test_printable_text_is_unchanged_including_cjk() -> None:
    assert terminal_safe("ループ-42 <script>") == "ループ-42 <script>"
