"""PostgreSQL application recorder that extends the hash chain, signs its new head
(``heads.py``) and keeps the open-loop index (``open_loops.py``) in the same transaction as
the events.

The library inserts under ``LOCK TABLE ... IN EXCLUSIVE MODE``, so reading the chain head
after the insert, in the same transaction, cannot race another writer.
Imported only for a PostgreSQL ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE, GENESIS, extend
from recovery_ledger.infra.store.heads import Checkpoint, HeadSigner
from recovery_ledger.infra.store.open_loops import (
    CREATE_COLUMNS,
    INDEX_TOPICS,
    OPEN_LOOPS_TABLE,
    changes_of,
    select_open_loops,
)
from recovery_ledger.infra.store.recorders import INDEXES_TABLE


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    head_signer: HeadSigner | None = None  # set by the ledger application
    _signed: Checkpoint | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        chain, checkpoints = Identifier(CHAIN_TABLE), Identifier(CHECKPOINT_TABLE)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (notification_id bigint PRIMARY KEY, "
                "chain_hash bytea NOT NULL)"
            ).format(schema, chain),
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (seq bigserial PRIMARY KEY, "
                "position bigint NOT NULL, event_count bigint NOT NULL, head bytea NOT NULL, "
                "signed_at text NOT NULL, key_id text NOT NULL, signature bytea NOT NULL)"
            ).format(schema, checkpoints),
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (" + CREATE_COLUMNS + ")").format(
                schema, Identifier(OPEN_LOOPS_TABLE)
            ),
            SQL("CREATE TABLE IF NOT EXISTS {}.{} (name text PRIMARY KEY)").format(
                schema, Identifier(INDEXES_TABLE)
            ),
        ]
        self._select_head = SQL(
            "SELECT chain_hash FROM {}.{} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema, chain)
        self._insert_link = SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(schema, chain)
        self._select_signed = SQL(
            "SELECT position, event_count FROM {}.{} ORDER BY seq DESC LIMIT 1"
        ).format(schema, checkpoints)
        self._count_after = SQL(
            "SELECT COUNT(*) AS n FROM {}.{} WHERE notification_id > %s"
        ).format(schema, chain)
        self._insert_checkpoint = SQL(
            "INSERT INTO {}.{} (position, event_count, head, signed_at, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(schema, checkpoints)

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        self._signed = None
        ids: Sequence[int] | None = super().insert_events(stored_events, **kwargs)
        if self._signed is not None and self.head_signer is not None:
            self.head_signer.committed(self._signed)
        return ids

    def create_table(self) -> None:
        """Also fills the open-loop index of a ledger written before it existed, once.
        Openers are serialized around this (``postgres_setup.schema_ready``)."""
        super().create_table()
        schema = self.datastore.schema
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(
                SQL("INSERT INTO {}.{} VALUES (%s) ON CONFLICT DO NOTHING").format(
                    Identifier(schema), Identifier(INDEXES_TABLE)
                ),
                (OPEN_LOOPS_TABLE,),
            )
            if curs.rowcount != 1:
                return
            curs.execute(
                SQL(
                    "SELECT notification_id, originator_id, topic, state FROM {}.{} "
                    "WHERE topic = ANY(%s) ORDER BY notification_id"
                ).format(Identifier(schema), Identifier(self.events_table_name)),
                (list(INDEX_TOPICS),),
            )
            rows = [
                (r["notification_id"], r["originator_id"], r["topic"], r["state"])
                for r in curs.fetchall()
            ]
            self._update_index(curs, rows)

    def _update_index(
        self, curs: Cursor[DictRow], rows: Sequence[tuple[int, Any, str, bytes]]
    ) -> None:
        table = f"{_quoted(self.datastore.schema)}.{OPEN_LOOPS_TABLE}"
        for statement, params in changes_of(rows).statements("%s", table):
            curs.executemany(SQL(statement), params)

    def open_loop_ids(self, host_id: str | None) -> list[UUID]:
        """Loops registered and not finalized (of ``host_id``, or all), in registration order."""
        table = f"{_quoted(self.datastore.schema)}.{OPEN_LOOPS_TABLE}"
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(select_open_loops("%s", table)), (host_id, host_id))
            return [UUID(str(row["aggregate_id"])) for row in curs.fetchall()]

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        if self.head_signer is None:
            raise RuntimeError("the ledger's recorder has no head signer")
        curs.execute(self._select_head)
        row = curs.fetchone()
        links = extend(bytes(row["chain_hash"]) if row else GENESIS, ids, stored_events)
        curs.executemany(self._insert_link, links)
        curs.execute(self._select_signed)
        row = curs.fetchone()
        since, count = (int(row["position"]), int(row["event_count"])) if row else (0, 0)
        curs.execute(self._count_after, (since,))
        counted = curs.fetchone()
        count += int(counted["n"]) if counted else 0
        position, head = links[-1]
        self._signed = self.head_signer.sign_head(position, count, head)
        curs.execute(self._insert_checkpoint, self._signed.row())
        self._update_index(
            curs,
            [
                (i, e.originator_id, e.topic, e.state)
                for i, e in zip(ids, stored_events, strict=True)
            ],
        )
        return ids

    def insert_in_transaction(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> tuple[Sequence[int], Checkpoint]:
        """Insert events, their chain links and the signed head inside the caller's open
        transaction, so that they commit or roll back with the caller's own statements (the
        collector's). The caller hands the head to ``head_signer.committed`` after commit.

        ``_signed`` is read back at once: the events table's lock, held from the insert to
        the commit, keeps any other thread out of this recorder's insert meanwhile."""
        self._insert_stored_events(curs, stored_events)
        ids = self._fetch_ids_after_insert_events(curs, stored_events)
        signed = self._signed
        assert ids is not None and len(ids) == len(stored_events) and signed is not None
        return ids, signed


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
