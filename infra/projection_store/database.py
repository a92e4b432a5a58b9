"""A small seam over the two SQL engines the projections live in (the ledger's own database).

SQLite: a dedicated ``sqlite3`` connection to the ledger file; PostgreSQL: a psycopg
connection to the ledger's schema (imported only for a PostgreSQL ledger).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from recovery_ledger.infra.store.location import LedgerLocation


class Database:
    placeholder = "?"
    # Added to the SELECT of the tracking position in a catch-up's transaction: SQLite's
    # BEGIN IMMEDIATE serializes catch-ups already; PostgreSQL needs the row locked, so a
    # catch-up never reads a position and then rows that a rebuild's switch replaced.
    lock_row = ""
    # One writer at a time for the whole database (SQLite): a long transaction of a rebuild
    # would make a boot's write wait, so a rebuild keeps every one of its transactions short.
    one_writer = False

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        raise NotImplementedError

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def stream(
        self, sql: str, params: Sequence[Any] = (), chunk: int = 2000
    ) -> Iterator[tuple[Any, ...]]:
        """Rows a chunk at a time, so a report over a million events never holds them all."""
        raise NotImplementedError
        yield

    def insert_rows(self, sql: str, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        """Many new rows into ``table`` (``sql`` is their INSERT statement)."""
        self.executemany(sql, rows)

    def events_after(self, table: str, position: int, limit: int) -> list[tuple[Any, ...]]:
        """The stored events after ``position``, in order: (position, originator id as text,
        version, topic, state). Read as plain rows: the library's notifications parse every
        originator id into a UUID."""
        raise NotImplementedError

    def index_names(self) -> set[str]:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    @contextmanager
    def ddl(self) -> Iterator[None]:
        """Around CREATE ... IF NOT EXISTS: nothing to do on SQLite, whose writers queue."""
        yield

    def close(self) -> None:
        raise NotImplementedError

    def sql(self, text: str) -> str:
        """Statements are written with ``?``; PostgreSQL wants ``%s``."""
        return text if self.placeholder == "?" else text.replace("?", "%s")


class SQLiteDatabase(Database):
    one_writer = True

    def __init__(self, path: str) -> None:
        import sqlite3

        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        # Derived rows: a commit lost to a power cut takes its tracking position with it (both
        # are in one transaction) and is caught up again, so no fsync per commit. WAL keeps
        # every commit atomic.
        self._conn.execute("PRAGMA synchronous=NORMAL")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(sql, rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(sql, params).fetchall())

    def stream(
        self, sql: str, params: Sequence[Any] = (), chunk: int = 2000
    ) -> Iterator[tuple[Any, ...]]:
        cursor = self._conn.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield from rows

    def events_after(self, table: str, position: int, limit: int) -> list[tuple[Any, ...]]:
        return self.query(
            f"SELECT rowid, originator_id, originator_version, topic, state FROM {table} "
            "WHERE rowid > ? ORDER BY rowid LIMIT ?",
            (position, limit),
        )

    def index_names(self) -> set[str]:
        return {row[0] for row in self.query("SELECT name FROM sqlite_master WHERE type = 'index'")}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        # IMMEDIATE: take the write lock first, so two catch-ups never apply one batch twice.
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()


class PostgresDatabase(Database):
    placeholder = "%s"
    lock_row = " FOR UPDATE"

    def __init__(self, env: dict[str, str]) -> None:
        from recovery_ledger.infra.store.postgres_setup import connect

        self._env = env
        self._conn = connect(env, schema_path=True)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._conn.execute(self.sql(sql), params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self._conn.cursor() as cursor:
            cursor.executemany(self.sql(sql), rows)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self._conn.execute(self.sql(sql), params).fetchall())

    def stream(
        self, sql: str, params: Sequence[Any] = (), chunk: int = 2000
    ) -> Iterator[tuple[Any, ...]]:
        with self._conn.cursor() as cursor:
            cursor.execute(self.sql(sql), params)
            while rows := cursor.fetchmany(chunk):
                yield from rows

    def insert_rows(self, sql: str, table: str, columns: Sequence[str], rows: list[Any]) -> None:
        # COPY: one round trip for the lot, where an INSERT per row costs one each.
        with (
            self._conn.cursor() as cursor,
            cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def events_after(self, table: str, position: int, limit: int) -> list[tuple[Any, ...]]:
        return self.query(
            "SELECT notification_id, originator_id::text, originator_version, topic, state "
            f"FROM {table} WHERE notification_id > ? ORDER BY notification_id LIMIT ?",
            (position, limit),
        )

    def index_names(self) -> set[str]:
        rows = self.query("SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()")
        return {row[0] for row in rows}

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._conn.transaction():
            yield

    @contextmanager
    def ddl(self) -> Iterator[None]:
        from recovery_ledger.infra.store.postgres_setup import ddl_serialized

        with ddl_serialized(self._conn, self._env):
            yield

    def close(self) -> None:
        self._conn.close()


def open_database(location: LedgerLocation) -> Database:
    if location.path is not None:
        return SQLiteDatabase(str(location.path))
    return PostgresDatabase(location.library_env())
