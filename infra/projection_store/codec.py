"""Rows to SQL values and back: times as fixed-width RFC 3339 UTC text (so they sort),
booleans as 0/1, tuples as JSON. The same on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time_text(text: str) -> datetime:
    # fromisoformat reads the fixed-width "...Z" form ten times faster than strptime.
    return datetime.fromisoformat(text)


def columns(kind: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]


def column_type(field: dataclasses.Field[Any]) -> str:
    text = str(field.type)
    if "bool" in text or text.startswith("int"):
        return "BIGINT"
    return "TEXT"


@functools.cache
def _field_names(kind: type[Any]) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(kind))


@functools.cache
def _decoders(kind: type[Any]) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Per column, how to turn its SQL value back into the field's type (decided once per
    row type, not once per value: audit decodes hundreds of thousands of rows)."""

    def decoder(text: str) -> Callable[[Any], Any] | None:
        if "datetime" in text:
            return parse_time_text
        if "bool" in text:
            return bool
        if "tuple" in text:
            return lambda value: tuple(json.loads(value))
        return None

    return tuple((f.name, decoder(str(f.type))) for f in dataclasses.fields(kind))


def to_values(row: Any) -> list[Any]:
    values: list[Any] = []
    for name in _field_names(type(row)):
        value = getattr(row, name)
        if isinstance(value, datetime):
            value = time_text(value)
        elif isinstance(value, bool):
            value = int(value)
        elif isinstance(value, tuple):
            value = json.dumps(list(value))
        values.append(value)
    return values


def from_values(kind: type[T], values: tuple[Any, ...]) -> T:
    arguments: dict[str, Any] = {}
    for (name, decode), value in zip(_decoders(kind), values, strict=True):
        arguments[name] = value if decode is None or value is None else decode(value)
    return kind(**arguments)
