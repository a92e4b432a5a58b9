"""Connecting to a PostgreSQL ledger, and creating its schema before the library creates
tables in it."""

from __future__ import annotations

from typing import Any

from infra.errors import LedgerError, LedgerUnreadableError


def connect(env: dict[str, str], *, schema_path: bool = False) -> Any:
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


def ensure_schema(env: dict[str, str]) -> None:
    schema = env.get("POSTGRES_SCHEMA")
    if not schema:
        return
    try:
        import psycopg
        from psycopg import sql
    except ImportError:  # pragma: no cover - depends on the install
        raise LedgerError(
            "PostgreSQL support is not installed: pip install 'recovery-ledger[postgres]'"
        ) from None
    with connect(env) as conn:
        try:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        except psycopg.Error as error:
            first = str(error).strip().splitlines()[0]
            raise LedgerUnreadableError(f"cannot create the ledger's schema: {first}") from None
