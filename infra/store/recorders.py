"""SQLite application recorder that extends the hash chain in the same transaction.

The events are inserted first, which takes SQLite's write lock; only then is the chain
head read, so two writers can never link onto the same head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE, GENESIS, link

CHECKPOINT_COLUMNS = (
    "seq INTEGER PRIMARY KEY, position INTEGER NOT NULL, event_count INTEGER NOT NULL, "
    "head BLOB NOT NULL, signed_at TEXT NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL"
)


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} "
            "(notification_id INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMNS})",
        ]

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if not stored_events or ids is None:
            return ids
        c.execute(f"SELECT chain_hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
        row = c.fetchone()
        head = bytes(row[0]) if row else GENESIS
        links = []
        for notification_id, event in zip(ids, stored_events, strict=True):
            head = link(
                head, event.originator_id, event.originator_version, event.topic, event.state
            )
            links.append((notification_id, head))
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?)", links)
        return ids
