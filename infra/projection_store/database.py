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
    def __init__(self, path: str) -> None:
        import sqlite3

        self._conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")

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
