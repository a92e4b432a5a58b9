"""Plain SQL on the ledger's own tables (events, chain, checkpoints), through the
library's connection, on SQLite or PostgreSQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recovery_ledger.infra.errors import LedgerUnreadableError
from recovery_ledger.infra.store.app import LedgerApp


class LedgerSQL:
    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.postgres = app.location.is_postgres
        datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
        self.datastore = datastore
        self.events_table = app.recorder.events_table_name  # type: ignore[attr-defined]
        if self.postgres:
            self.schema = datastore.schema

    @classmethod
    def for_app(cls, app: LedgerApp) -> LedgerSQL:
        return cls(app)

    def _search_path(self, verb: str) -> Any:
        from psycopg.sql import SQL, Identifier

        return SQL(verb + " search_path TO {}").format(Identifier(self.schema))

    def _sql(self, text: str) -> str:
        if not self.postgres:
            return text
        return text.replace("?", "%s")

    def query(self, text: str, params: Sequence[Any] = ()) -> list[Any]:
        if self.postgres:
            with self.datastore.get_connection() as conn, conn.cursor() as curs:
                conn.execute(self._search_path("SET"))
                curs.execute(self._sql(text), params)
                return [tuple(row.values()) for row in curs.fetchall()]
        with self.datastore.transaction(commit=False) as curs:
            curs.execute(text, params)
            return [tuple(row) for row in curs.fetchall()]

    def execute(self, text: str, params: Sequence[Any] = ()) -> None:
        if self.postgres:
            with self.datastore.get_connection() as conn, conn.transaction():
                conn.execute(self._search_path("SET LOCAL"))
                conn.execute(self._sql(text), params)
            return
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(text, params)


def stored_bytes(value: Any, what: str, position: int) -> bytes:
    """A binary column as bytes; a value of another type means the ledger was edited."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    raise LedgerUnreadableError(
        f"the ledger is damaged: the {what} at position {position} is not binary data "
        "(edited to another type); run `verify`"
    )
