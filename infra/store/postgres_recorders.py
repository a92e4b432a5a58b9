"""PostgreSQL application recorder that extends the hash chain, signs its new head
(``heads.py``) and keeps the open-loop index (``open_loops.py``) in the same transaction as
the events.

The library inserts under ``LOCK TABLE ... IN EXCLUSIVE MODE``, so reading the chain head
after the insert, in the same transaction, cannot race another writer.
Imported only for a PostgreSQL ledger.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder, PostgresFactory
from psycopg import Connection, Cursor
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow
from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.store.bulk import BulkAppend
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
        # One statement, run under the events table's lock: the chain's last link, the
        # newest signed head's position and count, and how many links follow that head.
        self._select_tail = SQL(
            "SELECT (SELECT chain_hash FROM {0}.{1} ORDER BY notification_id DESC LIMIT 1) "
            "AS head, s.event_count, (SELECT COUNT(*) FROM {0}.{1} "
            "WHERE notification_id > COALESCE(s.position, 0)) AS since "
            "FROM (SELECT 1) AS anchor LEFT JOIN (SELECT position, event_count FROM {0}.{2} "
            "ORDER BY seq DESC LIMIT 1) AS s ON true"
        ).format(schema, chain, checkpoints)
        # Columns as arrays in binary: the library's array of composites goes as text, each
        # field escaped in Python, which cost more than the database's own work.
        self._insert_columns = SQL(
            "INSERT INTO {}.{} (originator_id, originator_version, topic, state) "
            "SELECT * FROM unnest(%b::uuid[], %b::bigint[], %b::text[], %b::bytea[]) "
            "RETURNING notification_id"
        ).format(schema, Identifier(self.events_table_name))
        self._insert_links = SQL(
            "INSERT INTO {}.{} SELECT * FROM unnest(%b::bigint[], %b::bytea[])"
        ).format(schema, chain)
        self._insert_checkpoint = SQL(
            "INSERT INTO {}.{} (position, event_count, head, signed_at, key_id, signature) "
            "VALUES (%s, %s, %s, %s, %s, %s)"
        ).format(schema, checkpoints)
        self._select_present = SQL(
            "SELECT e.originator_id, e.originator_version, e.topic, e.state FROM {}.{} e "
            "JOIN unnest(%b::uuid[], %b::bigint[]) AS wanted (id, version) "
            "ON e.originator_id = wanted.id AND e.originator_version = wanted.version"
        ).format(schema, Identifier(self.events_table_name))
        self._select_any = SQL("SELECT 1 FROM {}.{} LIMIT 1").format(
            schema, Identifier(self.events_table_name)
        )

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
        """One statement per kind of change, its rows as binary arrays (a statement per row
        cost more than the events' own insert). Registrations go in before finalizations:
        a loop registered and finalized in one batch ends up out of the index."""
        changes = changes_of(rows)
        table = SQL("{}.{}").format(Identifier(self.datastore.schema), Identifier(OPEN_LOOPS_TABLE))
        if changes.opened:
            curs.execute(
                SQL(
                    "INSERT INTO {} (aggregate_id, position, loop_id, host_id) SELECT * FROM "
                    "unnest(%b::text[], %b::bigint[], %b::text[], %b::text[]) "
                    "ON CONFLICT (aggregate_id) DO NOTHING"
                ).format(table),
                [list(column) for column in zip(*changes.opened, strict=True)],
                prepare=True,
            )
        if changes.closed:
            curs.execute(
                SQL("DELETE FROM {} WHERE aggregate_id = ANY(%b::text[])").format(table),
                ([aggregate_id for (aggregate_id,) in changes.closed],),
                prepare=True,
            )

    def open_loop_ids(self, host_id: str | None) -> list[UUID]:
        """Loops registered and not finalized (of ``host_id``, or all), in registration order."""
        table = f"{_quoted(self.datastore.schema)}.{OPEN_LOOPS_TABLE}"
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(select_open_loops("%s", table)), (host_id, host_id))
            return [UUID(str(row["aggregate_id"])) for row in curs.fetchall()]

    def open_loop_histories(
        self, host_id: str | None, snapshots_table: str | None
    ) -> list[LoopHistory]:
        schema = _quoted(self.datastore.schema)
        statement = select_open_loop_histories(
            "%s",
            "CAST(aggregate_id AS uuid)",
            f"{schema}.{_quoted(self.events_table_name)}",
            None if snapshots_table is None else f"{schema}.{_quoted(snapshots_table)}",
            f"{schema}.{OPEN_LOOPS_TABLE}",
        )
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(SQL(statement), (host_id, host_id))
            return histories_of(tuple(row.values()) for row in curs.fetchall())

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
        self, conn: Connection[DictRow], stored_events: Sequence[StoredEvent]
    ) -> tuple[Sequence[int], Checkpoint]:
        """Insert events, their chain links and the signed head inside the caller's open
        transaction, so that they commit or roll back with the caller's own statements (the
        collector's). The caller hands the head to ``head_signer.committed`` after commit.

        Meant for a connection in pipeline mode: one round trip takes the table lock,
        reads the chain's tail and inserts the events; the links, the head and the index
        go out with the caller's next statements (the collector's own rows and its commit).
        The table lock, held from here to the commit, is what every writer queues on, so
        these two round trips are all it is held for besides the commit itself."""
        if self.head_signer is None:
            raise RuntimeError("the ledger's recorder has no head signer")
        with conn.cursor() as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement, prepare=True)
            self._notify_channel(curs)
        tail = conn.cursor()
        tail.execute(self._select_tail, prepare=True)
        inserted = conn.cursor()
        inserted.execute(
            self._insert_columns,
            event_columns(stored_events),
            prepare=True,
        )
        ids = [int(row["notification_id"]) for row in inserted.fetchall()]
        row = tail.fetchone()
        assert row is not None and len(ids) == len(stored_events)
        previous = bytes(row["head"]) if row["head"] is not None else GENESIS
        links = extend(previous, ids, stored_events)
        count = int(row["event_count"] or 0) + int(row["since"]) + len(ids)
        position, head = links[-1]
        signed = self.head_signer.sign_head(position, count, head)
        with conn.cursor() as curs:
            curs.execute(
                self._insert_links,
                ([i for i, _ in links], [h for _, h in links]),
                prepare=True,
            )
            curs.execute(self._insert_checkpoint, signed.row(), prepare=True)
            self._update_index(
                curs,
                [
                    (i, e.originator_id, e.topic, e.state)
                    for i, e in zip(ids, stored_events, strict=True)
                ],
            )
        return ids, signed

    @contextmanager
    def bulk_append(self) -> Iterator[BulkAppend]:
        """One transaction for many batches (``import``), under the events table's lock
        from its start: commits with one signed head over all of them when the block
        ends, or rolls all of them back."""
        if self.head_signer is None:
            raise RuntimeError("the ledger's recorder has no head signer")
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            for statement in self.lock_table_statements:
                curs.execute(statement, prepare=True)
            self._notify_channel(curs)
            bulk = _PostgresBulkAppend(self, curs)
            yield bulk
            signed = bulk.sign() if bulk.tail.head is not None else None
        if signed is not None:
            self.head_signer.committed(signed)


class _PostgresBulkAppend:
    def __init__(self, recorder: ChainedPostgresApplicationRecorder, curs: Cursor[DictRow]):
        self.recorder = recorder
        self.curs = curs
        self.tail = ChainTail()

    def is_empty(self) -> bool:
        self.curs.execute(self.recorder._select_any)
        return self.curs.fetchone() is None

    def present(self, keys: Sequence[tuple[UUID, int]]) -> dict[tuple[UUID, int], StoredEvent]:
        self.curs.execute(
            self.recorder._select_present,
            ([key for key, _ in keys], [version for _, version in keys]),
        )
        found: dict[tuple[UUID, int], StoredEvent] = {}
        for row in self.curs.fetchall():
            key = (UUID(str(row["originator_id"])), int(row["originator_version"]))
            found[key] = StoredEvent(key[0], key[1], row["topic"], bytes(row["state"]))
        return found

    def append(self, stored_events: Sequence[StoredEvent]) -> None:
        if not stored_events:
            return
        recorder, curs = self.recorder, self.curs
        curs.execute(
            recorder._insert_columns,
            event_columns(stored_events),
            prepare=True,
        )
        ids = [int(row["notification_id"]) for row in curs.fetchall()]
        if self.tail.head is None:
            curs.execute(recorder._select_head)
            row = curs.fetchone()
            self.tail.head = bytes(row["chain_hash"]) if row else GENESIS
        links = extend(self.tail.head, ids, stored_events)
        curs.execute(
            recorder._insert_links, ([i for i, _ in links], [h for _, h in links]), prepare=True
        )
        self.tail.position, self.tail.head = links[-1]
        recorder._update_index(
            curs,
            [
                (i, e.originator_id, e.topic, e.state)
                for i, e in zip(ids, stored_events, strict=True)
            ],
        )

    def sign(self) -> Checkpoint:
        recorder, curs = self.recorder, self.curs
        assert recorder.head_signer is not None and self.tail.head is not None
        curs.execute(recorder._select_signed)
        row = curs.fetchone()
        since, count = (int(row["position"]), int(row["event_count"])) if row else (0, 0)
        curs.execute(recorder._count_after, (since,))
        counted = curs.fetchone()
        count += int(counted["n"]) if counted else 0
        signed = recorder.head_signer.sign_head(self.tail.position, count, self.tail.head)
        curs.execute(recorder._insert_checkpoint, signed.row())
        return signed


def _quoted(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


class LedgerPostgresFactory(PostgresFactory):
    """The library's factory, with every libpq parameter of the ledger's DSN (``sslmode``,
    ``sslrootcert``, ``application_name``, …) given to its connection pool: the library
    itself only passes host, port, database, user and password."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        conninfo = self.env.get("LIBPQ_CONNINFO")
        if conninfo:
            kwargs = self.datastore.pool.kwargs
            assert isinstance(kwargs, dict)
            kwargs.update(conninfo_to_dict(conninfo))


def event_columns(
    stored_events: Sequence[StoredEvent],
) -> tuple[list[Any], list[int], list[str], list[bytes]]:
    """The events as the column arrays ``_insert_columns`` takes: one statement for them all."""
    return (
        [e.originator_id for e in stored_events],
        [e.originator_version for e in stored_events],
        [e.topic for e in stored_events],
        [e.state for e in stored_events],
    )
