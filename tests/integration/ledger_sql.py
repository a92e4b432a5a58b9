"""Plain SQL on a test ledger, on either backend, as an attacker with database access."""

from __future__ import annotations

import sqlite3
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..conftest import PG_DSN_BASE, Ledger


def _schema(ledger: Ledger) -> str:
    return parse_qs(urlsplit(ledger.arg).query)["schema"][0]


def run_sql(ledger: Ledger, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run one statement (``?`` placeholders on both backends), commit, return its rows."""
    if ledger.path is not None:
        conn = sqlite3.connect(ledger.path)
        try:
            rows = conn.execute(statement, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(PG_DSN_BASE, autocommit=True) as pg:
        pg.execute(f"SET search_path TO {_schema(ledger)}")
        cursor = pg.execute(statement.replace("?", "%s"), params)
        return [tuple(row) for row in cursor.fetchall()] if cursor.description else []


def events_table(ledger: Ledger) -> str:
    return "stored_events" if ledger.path is not None else "recoveryledger_events"


def id_column(ledger: Ledger) -> str:
    return "rowid" if ledger.path is not None else "notification_id"


def counts(ledger: Ledger) -> tuple[int, int, int]:
    """(events, chain links, signed heads): what a refused write must leave as it was."""
    return (
        run_sql(ledger, f"SELECT COUNT(*) FROM {events_table(ledger)}")[0][0],
        run_sql(ledger, "SELECT COUNT(*) FROM ledger_chain")[0][0],
        run_sql(ledger, "SELECT COUNT(*) FROM ledger_checkpoints")[0][0],
    )


def append_forged_event(ledger: Ledger) -> int:
    """Append a copy of the newest event as the next version, its link recomputed: all an
    attacker without the key directory can do."""
    from recovery_ledger.infra.store.chain import link

    column = id_column(ledger)
    _, originator_id, version, topic, state = run_sql(
        ledger,
        f"SELECT {column}, originator_id, originator_version, topic, state "
        f"FROM {events_table(ledger)} ORDER BY {column} DESC LIMIT 1",
    )[0]
    (head,) = run_sql(
        ledger, "SELECT chain_hash FROM ledger_chain ORDER BY notification_id DESC LIMIT 1"
    )[0]
    run_sql(
        ledger,
        f"INSERT INTO {events_table(ledger)} (originator_id, originator_version, topic, state) "
        "VALUES (?, ?, ?, ?)",
        (originator_id, version + 1, topic, bytes(state)),
    )
    (position,) = run_sql(ledger, f"SELECT MAX({column}) FROM {events_table(ledger)}")[0]
    run_sql(
        ledger,
        "INSERT INTO ledger_chain VALUES (?, ?)",
        (position, link(bytes(head), originator_id, version + 1, topic, bytes(state))),
    )
    return int(position)


def cut_tail(ledger: Ledger, keep: int) -> None:
    """Roll the ledger back to its first ``keep`` events, heads included (an old backup)."""
    column = id_column(ledger)
    (position,) = run_sql(
        ledger,
        f"SELECT {column} FROM {events_table(ledger)} ORDER BY {column} LIMIT 1 OFFSET ?",
        (keep - 1,),
    )[0]
    run_sql(ledger, f"DELETE FROM {events_table(ledger)} WHERE {column} > ?", (position,))
    run_sql(ledger, "DELETE FROM ledger_chain WHERE notification_id > ?", (position,))
    run_sql(ledger, "DELETE FROM ledger_checkpoints WHERE position > ?", (position,))
