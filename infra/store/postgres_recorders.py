"""PostgreSQL application recorder that extends the hash chain in the same transaction.

The library inserts under ``LOCK TABLE ... IN EXCLUSIVE MODE``, so reading the chain head
after the insert, in the same transaction, cannot race another writer.
Imported only for a PostgreSQL ledger.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import Cursor
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE, GENESIS, link


class ChainedPostgresApplicationRecorder(PostgresApplicationRecorder):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        schema = Identifier(self.datastore.schema)
        self.sql_create_statements += [
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (notification_id bigint PRIMARY KEY, "
                "chain_hash bytea NOT NULL)"
            ).format(schema, Identifier(CHAIN_TABLE)),
            SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} (seq bigserial PRIMARY KEY, "
                "position bigint NOT NULL, event_count bigint NOT NULL, head bytea NOT NULL, "
                "signed_at text NOT NULL, key_id text NOT NULL, signature bytea NOT NULL)"
            ).format(schema, Identifier(CHECKPOINT_TABLE)),
        ]
        self._select_head = SQL(
            "SELECT chain_hash FROM {}.{} ORDER BY notification_id DESC LIMIT 1"
        ).format(schema, Identifier(CHAIN_TABLE))
        self._insert_link = SQL("INSERT INTO {}.{} VALUES (%s, %s)").format(
            schema, Identifier(CHAIN_TABLE)
        )

    def _fetch_ids_after_insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = super()._fetch_ids_after_insert_events(curs, stored_events, **kwargs)
        if not ids:
            return ids
        curs.execute(self._select_head)
        row = curs.fetchone()
        head = bytes(row["chain_hash"]) if row else GENESIS
        links = []
        for notification_id, event in zip(ids, stored_events, strict=True):
            head = link(
                head, event.originator_id, event.originator_version, event.topic, event.state
            )
            links.append((notification_id, head))
        curs.executemany(self._insert_link, links)
        return ids

    def insert_in_transaction(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent]
    ) -> Sequence[int]:
        """Insert events, and their chain links, inside the caller's open transaction, so
        that they commit or roll back with the caller's own statements (the collector's)."""
        self._insert_stored_events(curs, stored_events)
        ids = self._fetch_ids_after_insert_events(curs, stored_events)
        assert ids is not None and len(ids) == len(stored_events)
        return ids
