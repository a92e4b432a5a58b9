"""How every JSON output of the project writes a time: RFC 3339, UTC, with a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(value: datetime | None) -> str | None:
    """``None`` stays ``None``; an aware datetime becomes ``2026-11-25T21:14:14.123456Z``."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
