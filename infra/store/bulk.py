"""What a recorder offers a caller that writes many batches in one transaction (``import``).

Both recorders (``recorders.py``, ``postgres_recorders.py``) give one from ``bulk_append()``:
a context manager whose block runs inside one write transaction, holding the ledger's write
lock from its start, and which ends it with one signed head over every batch appended (or
rolls everything back if the block raises)."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Protocol
from uuid import UUID

from eventsourcing.persistence import StoredEvent

# Keys per lookup: two parameters each, under SQLite's oldest limit of 999 parameters.
PRESENT_CHUNK = 400


class BulkAppend(Protocol):
    def is_empty(self) -> bool:
        """The ledger holds no event (asked before anything is appended)."""

    def present(self, keys: Sequence[tuple[UUID, int]]) -> dict[tuple[UUID, int], StoredEvent]:
        """The stored events at these (aggregate, version) places, of those that hold one."""

    def append(self, stored_events: Sequence[StoredEvent]) -> None:
        """Insert events with their chain links and open-loop index changes."""


class BulkRecorder(Protocol):
    def bulk_append(self) -> AbstractContextManager[BulkAppend]: ...
