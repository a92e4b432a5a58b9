"""Connecting to a PostgreSQL ledger, and creating its schema before the library creates
tables in it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from recovery_ledger.infra.errors import LedgerError, LedgerUnreadableError

if TYPE_CHECKING:  # psycopg is the optional [postgres] extra: imported only to connect
    import psycopg


def connect(
    env: dict[str, str], *, schema_path: bool = False
) -> psycopg.Connection[tuple[Any, ...]]:
    """A psycopg connection (autocommit) to the ledger the library's ``env`` names; with
    ``schema_path``, its statements see the ledger's schema first.

    Raises LedgerUnreadableError with one line when the server cannot be reached."""
    import psycopg

    options = f"-c search_path={env.get('POSTGRES_SCHEMA') or 'public'}" if schema_path else None
    try:
        return psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            user=env["POSTGRES_USER"],
            password=env.get("POSTGRES_PASSWORD") or None,
            connect_timeout=5,
            autocommit=True,
            options=options,
        )
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LedgerUnreadableError(f"cannot reach the PostgreSQL ledger: {first}") from None


def ddl_lock_key(env: dict[str, str]) -> int:
    """The advisory lock that creating the ledger's schema, tables and indexes takes."""
    schema = env.get("POSTGRES_SCHEMA") or "public"
    digest = hashlib.sha256(f"recovery-ledger:ddl:{env['POSTGRES_DBNAME']}:{schema}".encode())
    return int.from_bytes(digest.digest()[:8], "big", signed=True)


@contextmanager
def ddl_serialized(conn: Any, env: dict[str, str]) -> Iterator[None]:
    """Run the caller's CREATE ... IF NOT EXISTS statements one opener at a time.

    PostgreSQL's IF NOT EXISTS does not make concurrent DDL safe: two processes opening
    the same ledger at once fail with "tuple concurrently updated" (seen in the race test of
    two registrations)."""
    key = ddl_lock_key(env)
    conn.execute("SELECT pg_advisory_lock(%s)", (key,))
    try:
        yield
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (key,))


@contextmanager
def schema_ready(env: dict[str, str]) -> Iterator[None]:
    """The ledger's schema exists, and no other process creates tables in it until the
    block (which constructs the application, and so its tables) is over."""
    try:
        import psycopg
        from psycopg import sql
    except ImportError:  # pragma: no cover - depends on the install
        raise LedgerError(
            "PostgreSQL support is not installed: pip install 'recovery-ledger[postgres]'"
        ) from None
    schema = env.get("POSTGRES_SCHEMA")
    with connect(env) as conn, ddl_serialized(conn, env):
        if schema:
            try:
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema))
                )
            except psycopg.Error as error:
                first = str(error).strip().splitlines()[0]
                raise LedgerUnreadableError(f"cannot create the ledger's schema: {first}") from None
        yield
