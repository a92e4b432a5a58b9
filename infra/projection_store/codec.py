"""Rows to SQL values and back: times as fixed-width RFC 3339 UTC text (so they sort),
booleans as 0/1, tuples as JSON. The same on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TIME_FORMAT)


def parse_time_text(text: str) -> datetime:
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def columns(kind: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(kind)]


def column_type(field: dataclasses.Field[Any]) -> str:
    text = str(field.type)
    if "bool" in text or text.startswith("int"):
        return "BIGINT"
    return "TEXT"


def to_values(row: Any) -> list[Any]:
    values: list[Any] = []
    for field in dataclasses.fields(row):
        value = getattr(row, field.name)
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
    for field, value in zip(dataclasses.fields(kind), values, strict=True):  # type: ignore[arg-type]
        text = str(field.type)
        if value is not None:
            if "datetime" in text:
                value = parse_time_text(value)
            elif "bool" in text:
                value = bool(value)
            elif "tuple" in text:
                value = tuple(json.loads(value))
        arguments[field.name] = value
    return kind(**arguments)
