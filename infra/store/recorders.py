"""SQLite application recorder that extends the hash chain, signs its new head
(``heads.py``) and keeps the open-loop index (``open_loops.py``) in the same transaction
as the events.

The events are inserted first, which takes SQLite's write lock; only then is the chain
head read, so two writers can never link onto the same head.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor

from recovery_ledger.infra.store.bulk import PRESENT_CHUNK, BulkAppend
from recovery_ledger.infra.store.chain import (
    CHAIN_TABLE,
    CHECKPOINT_TABLE,
    GENESIS,
    ChainTail,
    extend,
)
from recovery_ledger.infra.store.heads import Checkpoint, HeadSigner
from recovery_ledger.infra.store.open_loops import (
    CREATE_COLUMNS,
    INDEX_TOPICS,
    OPEN_LOOPS_TABLE,
    LoopHistory,
    changes_of,
    histories_of,
    select_open_loop_histories,
    select_open_loops,
)

CHECKPOINT_COLUMNS = (
    "seq INTEGER PRIMARY KEY, position INTEGER NOT NULL, event_count INTEGER NOT NULL, "
    "head BLOB NOT NULL, signed_at TEXT NOT NULL, key_id TEXT NOT NULL, signature BLOB NOT NULL"
)
INSERT_CHECKPOINT = (
    f"INSERT INTO {CHECKPOINT_TABLE} (position, event_count, head, signed_at, key_id, "
    "signature) VALUES (?, ?, ?, ?, ?, ?)"
)
# Which derived tables are complete: a row is claimed, and the table filled from the
# events, in one transaction (a ledger written before the table existed is filled once).
INDEXES_TABLE = "ledger_indexes"


class ChainedSQLiteApplicationRecorder(SQLiteApplicationRecorder):
    head_signer: HeadSigner | None = None  # set by the ledger application
    _signed: Checkpoint | None = None

    def construct_create_table_statements(self) -> list[str]:
        return [
            *super().construct_create_table_statements(),
            f"CREATE TABLE IF NOT EXISTS {CHAIN_TABLE} "
            "(notification_id INTEGER PRIMARY KEY, chain_hash BLOB NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINT_TABLE} ({CHECKPOINT_COLUMNS})",
            f"CREATE TABLE IF NOT EXISTS {OPEN_LOOPS_TABLE} ({CREATE_COLUMNS})",
            f"CREATE TABLE IF NOT EXISTS {INDEXES_TABLE} (name TEXT PRIMARY KEY)",
        ]

    def create_table(self) -> None:
        super().create_table()
        with self.datastore.transaction(commit=False) as c:
            c.execute(f"SELECT 1 FROM {INDEXES_TABLE} WHERE name = ?", (OPEN_LOOPS_TABLE,))
            if c.fetchone() is not None:
                return
        # A fresh transaction whose first statement writes: it waits for the write lock
        # instead of failing on a snapshot another opener has moved past.
        with self.datastore.transaction(commit=True) as c:
            c.execute(f"INSERT OR IGNORE INTO {INDEXES_TABLE} VALUES (?)", (OPEN_LOOPS_TABLE,))
            c.execute("SELECT changes()")
            if c.fetchone()[0]:
                c.execute(
                    f"SELECT rowid, originator_id, topic, state FROM {self.events_table_name} "
                    "WHERE topic IN (?, ?) ORDER BY rowid",
                    INDEX_TOPICS,
                )
                rows = [(r[0], r[1], r[2], r[3]) for r in c.fetchall()]
                for statement, params in changes_of(rows).statements("?"):
                    c.executemany(statement, params)

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
        if not stored_events:
            return []
        tail = ChainTail()
        ids = self._append(c, stored_events, tail)
        self._signed = self._sign(c, tail)
        return ids

    def _append(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], tail: ChainTail
    ) -> list[int]:
        """Insert events, their chain links and their open-loop index changes; ``tail``
        follows the newest link (read from the ledger the first time, after the insert)."""
        if self.head_signer is None:
            raise RuntimeError("the ledger's recorder has no head signer")
        ids = self._insert_rows(c, stored_events)
        if tail.head is None:
            c.execute(f"SELECT chain_hash FROM {CHAIN_TABLE} ORDER BY notification_id DESC LIMIT 1")
            row = c.fetchone()
            tail.head = bytes(row[0]) if row else GENESIS
        links = extend(tail.head, ids, stored_events)
        c.executemany(f"INSERT INTO {CHAIN_TABLE} VALUES (?, ?)", links)
        tail.position, tail.head = links[-1]
        index = changes_of(
            (i, s.originator_id, s.topic, s.state) for i, s in zip(ids, stored_events, strict=True)
        )
        for statement, params in index.statements("?"):
            c.executemany(statement, params)
        return ids

    def _sign(self, c: SQLiteCursor, tail: ChainTail) -> Checkpoint:
        """The signed head over everything up to ``tail``, in this transaction."""
        assert self.head_signer is not None and tail.head is not None
        c.execute(f"SELECT position, event_count FROM {CHECKPOINT_TABLE} ORDER BY seq DESC LIMIT 1")
        row = c.fetchone()
        since, count = (int(row[0]), int(row[1])) if row else (0, 0)
        c.execute(f"SELECT COUNT(*) FROM {CHAIN_TABLE} WHERE notification_id > ?", (since,))
        count += int(c.fetchone()[0])
        signed = self.head_signer.sign_head(tail.position, count, tail.head)
        c.execute(INSERT_CHECKPOINT, signed.row())
        return signed

    @contextmanager
    def bulk_append(self) -> Iterator[BulkAppend]:
        """One transaction for many batches (``import``): commits with one signed head
        over all of them when the block ends, or rolls all of them back."""
        with self.datastore.transaction(commit=True) as c:
            # A write first: it waits for SQLite's write lock, so that what the caller
            # reads in this transaction is what it then writes after.
            c.execute(f"INSERT OR IGNORE INTO {INDEXES_TABLE} VALUES (?)", (OPEN_LOOPS_TABLE,))
            bulk = _SQLiteBulkAppend(self, c)
            yield bulk
            signed = self._sign(c, bulk.tail) if bulk.tail.head is not None else None
        if signed is not None and self.head_signer is not None:
            self.head_signer.committed(signed)

    def _insert_rows(self, c: SQLiteCursor, stored_events: Sequence[StoredEvent]) -> list[int]:
        """One executemany, not one execute per event (the library's way, to learn each
        rowid): holding SQLite's write lock, the new rowids are the consecutive numbers
        ending at last_insert_rowid()."""
        c.executemany(
            self.insert_events_statement,
            [
                (
                    s.originator_id.hex if isinstance(s.originator_id, UUID) else s.originator_id,
                    s.originator_version,
                    s.topic,
                    s.state,
                )
                for s in stored_events
            ],
        )
        c.execute("SELECT last_insert_rowid()")
        last = int(c.fetchone()[0])
        return list(range(last - len(stored_events) + 1, last + 1))

    def open_loop_ids(self, host_id: str | None) -> list[UUID]:
        """Loops registered and not finalized (of ``host_id``, or all), in registration order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(select_open_loops("?"), (host_id, host_id))
            return [UUID(row[0]) for row in c.fetchall()]

    def open_loop_histories(
        self, host_id: str | None, snapshots_table: str | None
    ) -> list[LoopHistory]:
        statement = select_open_loop_histories(
            "?", "replace(aggregate_id, '-', '')", self.events_table_name, snapshots_table
        )
        with self.datastore.transaction(commit=False) as c:
            c.execute(statement, (host_id, host_id))
            return histories_of(c.fetchall())


class _SQLiteBulkAppend:
    def __init__(self, recorder: ChainedSQLiteApplicationRecorder, c: SQLiteCursor) -> None:
        self.recorder = recorder
        self.c = c
        self.tail = ChainTail()
        self.table = recorder.events_table_name

    def is_empty(self) -> bool:
        self.c.execute(f"SELECT 1 FROM {self.table} LIMIT 1")
        return self.c.fetchone() is None

    def present(self, keys: Sequence[tuple[UUID, int]]) -> dict[tuple[UUID, int], StoredEvent]:
        found: dict[tuple[UUID, int], StoredEvent] = {}
        for start in range(0, len(keys), PRESENT_CHUNK):
            chunk = keys[start : start + PRESENT_CHUNK]
            values = ", ".join(["(?, ?)"] * len(chunk))
            self.c.execute(
                f"WITH wanted (id, version) AS (VALUES {values}) "
                "SELECT e.originator_id, e.originator_version, e.topic, e.state "
                f"FROM wanted JOIN {self.table} e "
                "ON e.originator_id = wanted.id AND e.originator_version = wanted.version",
                [value for key, version in chunk for value in (key.hex, version)],
            )
            for originator_id, version, topic, state in self.c.fetchall():
                key = (UUID(originator_id), int(version))
                found[key] = StoredEvent(key[0], key[1], topic, bytes(state))
        return found

    def append(self, stored_events: Sequence[StoredEvent]) -> None:
        if stored_events:
            self.recorder._append(self.c, stored_events, self.tail)
