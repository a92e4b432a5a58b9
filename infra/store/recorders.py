"""SQLite application recorder that extends the hash chain and signs its new head in the
same transaction as the events (``heads.py``).

The events are inserted first, which takes SQLite's write lock; only then is the chain
head read, so two writers can never link onto the same head.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE, GENESIS, extend
from recovery_ledger.infra.store.heads import Checkpoint, HeadSigner

CHECKPOINT_COLUMNS = (
    "seq INTEGER PRIMARY KEY, position INTEGER NOT NULL, event_count INTEGER NOT NULL, "
    "head BLOB NOT NULL, signed_at TEXT NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL"
)
INSERT_CHECKPOINT = (
    f"INSERT INTO {CHECKPOINT_TABLE} (position, event_count, head, signed_at, key_id, "
    "signature) VALUES (?, ?, ?, ?, ?, ?)"
)


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    head_signer: HeadSigner | None = None  # set by the ledger application
    _signed: Checkpoint | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} "
            "(notification_id INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMNS})",
        ]

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._signed = None
        ids = super().insert_events(stored_events, **kwargs)
        if self._signed is not None and self.head_signer is not None:
            self.head_signer.committed(self._signed)
        return ids

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if not stored_events or ids is None:
            return ids
        if self.head_signer is None:
            raise RuntimeError("the ledger's recorder has no head signer")
        c.execute(f"SELECT chain_hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
        row = c.fetchone()
        links = extend(bytes(row[0]) if row else GENESIS, ids, stored_events)
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?)", links)
        c.execute(f"SELECT position, event_count FROM {CHECKPOINT_TABLE} ORDER BY seq DESC LIMIT 1")
        row = c.fetchone()
        since, count = (int(row[0]), int(row[1])) if row else (0, 0)
        c.execute(f"SELECT COUNT(*) FROM {CHAIN_TABLE} WHERE notification_id > ?", (since,))
        count += int(c.fetchone()[0])
        position, head = links[-1]
        self._signed = self.head_signer.sign_head(position, count, head)
        c.execute(INSERT_CHECKPOINT, self._signed.row())
        return ids
