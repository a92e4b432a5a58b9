"""The collector's own tables, beside the ledger's (same schema):

- ``fleet_installations``: one row per enrolled installation (thumbprint, host name, the
  public key once it has shown it, and what the collector acknowledged). Its row lock
  serializes the uploads of one installation.
- ``fleet_events``: for each stored event, its installation, its number in that
  installation's history (``seq``, primary key with the installation: stored once), its
  position on the desktop and its link in the desktop's chain.
- ``fleet_heads``: the signed heads that covered the uploads, as received.
- ``fleet_nonces``: request ids already used (replay protection), kept a while.
- ``fleet_refusals``: what was refused, when and why (evidence, e.g. of a rollback).
- ``fleet_readmissions``: an installation refused as rolled back, let back in by the
  operator (``collector readmit``): who, when, why, what was acknowledged then, and where
  its history resumed (``resumed_count``, set by its first upload after it).
- ``fleet_superseded_events`` and ``fleet_superseded_heads``: the acknowledged rows past
  that point, moved out of the installation's history when it resumed (its events stay in
  the collector's ledger: evidence of what the installation once held).
"""

from __future__ import annotations

from typing import Any

from psycopg.sql import SQL, Composed, Identifier

from recovery_ledger.infra.store.chain import GENESIS

_TABLES = (
    "CREATE TABLE IF NOT EXISTS {s}.fleet_installations ("
    " installation bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " thumbprint text NOT NULL UNIQUE,"
    " host_name text NOT NULL UNIQUE,"
    " public_jwk jsonb,"
    " enrolled_at timestamptz NOT NULL DEFAULT now(),"
    " acked_count bigint NOT NULL DEFAULT 0,"
    " acked_position bigint NOT NULL DEFAULT 0,"
    " acked_head bytea NOT NULL DEFAULT {genesis},"
    " reported_count bigint NOT NULL DEFAULT 0,"
    " last_upload_at timestamptz)",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_events ("
    " installation bigint NOT NULL REFERENCES {s}.fleet_installations,"
    " seq bigint NOT NULL,"
    " source_position bigint NOT NULL,"
    " notification_id bigint NOT NULL UNIQUE,"
    " source_link bytea NOT NULL,"
    " PRIMARY KEY (installation, seq))",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_heads ("
    " installation bigint NOT NULL REFERENCES {s}.fleet_installations,"
    " event_count bigint NOT NULL,"
    " position bigint NOT NULL,"
    " head bytea NOT NULL,"
    " signed_at text NOT NULL,"
    " key_id text NOT NULL,"
    " signature bytea NOT NULL,"
    " received_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (installation, event_count))",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_nonces ("
    " installation bigint NOT NULL REFERENCES {s}.fleet_installations,"
    " jti text NOT NULL,"
    " seen_at timestamptz NOT NULL DEFAULT now(),"
    " PRIMARY KEY (installation, jti))",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_refusals ("
    " refusal bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " installation bigint REFERENCES {s}.fleet_installations,"
    " thumbprint text,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " reason text NOT NULL,"
    " message text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_readmissions ("
    " readmission bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " installation bigint NOT NULL REFERENCES {s}.fleet_installations,"
    " at timestamptz NOT NULL DEFAULT now(),"
    " by_whom text NOT NULL,"
    " reason text NOT NULL,"
    " acked_count bigint NOT NULL,"
    " acked_position bigint NOT NULL,"
    " acked_head bytea NOT NULL,"
    " verified_count bigint NOT NULL DEFAULT 0,"
    " resumed_count bigint,"
    " resumed_at timestamptz)",
    "CREATE UNIQUE INDEX IF NOT EXISTS fleet_readmissions_pending "
    "ON {s}.fleet_readmissions (installation) WHERE resumed_at IS NULL",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_superseded_events ("
    " readmission bigint NOT NULL REFERENCES {s}.fleet_readmissions,"
    " installation bigint NOT NULL,"
    " seq bigint NOT NULL,"
    " source_position bigint NOT NULL,"
    " notification_id bigint NOT NULL UNIQUE,"
    " source_link bytea NOT NULL,"
    " PRIMARY KEY (readmission, seq))",
    "CREATE TABLE IF NOT EXISTS {s}.fleet_superseded_heads ("
    " readmission bigint NOT NULL REFERENCES {s}.fleet_readmissions,"
    " installation bigint NOT NULL,"
    " event_count bigint NOT NULL,"
    " position bigint NOT NULL,"
    " head bytea NOT NULL,"
    " signed_at text NOT NULL,"
    " key_id text NOT NULL,"
    " signature bytea NOT NULL,"
    " received_at timestamptz NOT NULL,"
    " PRIMARY KEY (readmission, event_count))",
)


def statements(schema: str) -> list[Composed]:
    genesis = SQL("'\\x{}'::bytea").format(SQL(GENESIS.hex()))
    return [SQL(text).format(s=Identifier(schema), genesis=genesis) for text in _TABLES]


def ensure_fleet_tables(app: Any) -> None:
    """Create the collector's tables (one opener at a time, as the ledger's own)."""
    from recovery_ledger.infra.store.postgres_setup import connect, ddl_serialized

    env = app.location.library_env()
    schema = app.recorder.datastore.schema
    with connect(env) as conn, ddl_serialized(conn, env):
        for statement in statements(schema):
            conn.execute(statement)


def has_fleet_tables(app: Any) -> bool:
    if not app.location.is_postgres:
        return False
    datastore = app.recorder.datastore
    with datastore.get_connection() as conn:
        row = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL AS present",
            (f'"{datastore.schema}".fleet_installations',),
        ).fetchone()
    return bool(row and row["present"])
