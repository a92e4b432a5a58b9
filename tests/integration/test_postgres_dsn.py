"""PostgreSQL DSNs (docs/contract.md): every libpq parameter kept, the schema a plain,
non-system identifier refused before connecting, and a read of a schema without a ledger
creates nothing."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from ..conftest import PG_DSN_BASE, drop_schema, require_postgres, run_cli

UNREACHABLE = "postgresql://postgres@127.0.0.1:1/test"


def _schema_exists(name: str) -> bool:
    import psycopg

    with psycopg.connect(PG_DSN_BASE) as conn:
        row = conn.execute("SELECT count(*) FROM pg_namespace WHERE nspname = %s", (name,))
        return bool(row.fetchone()[0])  # type: ignore[index]


@pytest.mark.postgres
def test_libpq_parameters_reach_the_ledgers_connections(tmp_path: Path) -> None:
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.store.app import open_ledger
    from recovery_ledger.infra.store.location import resolve_location

    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    dsn = f"{PG_DSN_BASE}?schema={schema}&application_name=rl_dsn_probe"
    try:
        app = open_ledger(resolve_location(dsn), KeyStore(tmp_path / "keys"), create=True)
        with app.recorder.datastore.get_connection() as conn:  # type: ignore[attr-defined]
            row = conn.execute("SELECT current_setting('application_name') AS name").fetchone()
        assert row["name"] == "rl_dsn_probe"
    finally:
        drop_schema(schema)


@pytest.mark.postgres
def test_sslmode_require_is_kept_so_a_server_without_tls_is_refused(tmp_path: Path) -> None:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    result = run_cli(
        "boot",
        "--ledger",
        f"{PG_DSN_BASE}?schema={schema}&sslmode=require",
        "--keys",
        str(tmp_path / "keys"),
    )
    assert result.code == 4, result.stderr
    assert "SSL" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not _schema_exists(schema)


@pytest.mark.postgres
@pytest.mark.parametrize("command", [["loops"], ["verify"], ["audit"], ["export"], ["zombies"]])
def test_a_read_of_a_schema_without_a_ledger_exits_4_and_creates_nothing(
    command: list[str],
    tmp_path: Path,
) -> None:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    result = run_cli(
        *command, "--ledger", f"{PG_DSN_BASE}?schema={schema}", "--keys", str(tmp_path / "k")
    )
    assert result.code == 4, result.stderr
    assert "no ledger" in result.stderr
    assert not _schema_exists(schema)
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize(
    "schema",
    [
        "information_schema",
        "pg_catalog",
        "pg_toast",
        "a" * 64,
        "a" * 200,
        "x;drop",
        "1abc",
        "sch-ema",
        "%20",
    ],
)
def test_a_schema_that_is_not_a_plain_user_identifier_is_bad_usage(schema: str) -> None:
    # The server named is unreachable: exit 2 proves nothing tried to connect.
    result = run_cli(
        "loops",
        "--ledger",
        f"{UNREACHABLE}?schema={schema}" if schema else f"{UNREACHABLE}?schema=%20",
    )
    assert result.code == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_non_numeric_port_is_bad_usage() -> None:
    result = run_cli("loops", "--ledger", "postgresql://postgres@127.0.0.1:abc/test")
    assert result.code == 2, result.stderr
    assert "port" in result.stderr
