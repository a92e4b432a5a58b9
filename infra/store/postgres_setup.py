"""PostgreSQL needs its schema to exist before the library creates tables in it."""

from __future__ import annotations

from infra.errors import LedgerError, LedgerUnreadableError


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
    try:
        with psycopg.connect(
            dbname=env["POSTGRES_DBNAME"],
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            user=env["POSTGRES_USER"],
            password=env.get("POSTGRES_PASSWORD") or None,
            connect_timeout=5,
            autocommit=True,
        ) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise LedgerUnreadableError(f"cannot reach the PostgreSQL ledger: {first}") from None
