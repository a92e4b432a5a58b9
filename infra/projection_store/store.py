"""Keeping the read models caught up with the ledger, exactly once per event.

There is no subscription on SQLite (eventsourcing 9.5 does not implement one), so every
reader pulls: it reads the tracking position, pulls the next page of notifications,
folds them into the affected rows with the pure functions of ``projections.rows``,
and writes the rows and the new position in ONE transaction. A crash mid-batch rolls
back both; a second reader waits for the write lock and then starts after the first.
The same code runs on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from recovery_ledger.infra.projection_store.codec import from_values, to_values
from recovery_ledger.infra.projection_store.database import Database, open_database
from recovery_ledger.infra.projection_store.rebuild import PAGE, ShadowRebuild
from recovery_ledger.infra.projection_store.schema import (
    BOOTS,
    DECISIONS,
    FINDINGS,
    LOOPS,
    PENDING_HEARTBEAT,
    TABLES,
    TRACKING,
    TRACKING_NAME,
    Table,
    create_statements,
)
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.projections.audit import TALLY_COLUMNS, DecisionTally, FindingTally
from recovery_ledger.projections.rows import (
    BootRow,
    DecisionRow,
    LoopRow,
    Position,
    boot_after,
    decision_after,
    decision_key,
    is_loop_event,
    loop_after,
)
from recovery_ledger.projections.zombies import Finding, findings_for

T = TypeVar("T")
BATCH = 5000
_IN_CHUNK = 400


class ProjectionStore:
    def __init__(self, app: LedgerApp, database: Database | None = None) -> None:
        self.app = app
        # The rebuild reads the events in SQL, so only in the ledger's own database.
        self._beside_events = database is None
        self.db = database or open_database(app.location)
        with self.db.ddl():
            for statement in create_statements(self.db.index_names()):
                self.db.execute(statement)

    def close(self) -> None:
        self.db.close()

    # -- catching up --------------------------------------------------------------------

    def position(self, *, locked: bool = False) -> int:
        """The last event applied; ``locked`` (in a catch-up's transaction) holds it until
        the transaction ends."""
        lock = self.db.lock_row if locked else ""
        rows = self.db.query(
            f"SELECT position FROM {TRACKING} WHERE name = ?{lock}", (TRACKING_NAME,)
        )
        return int(rows[0][0]) if rows else 0

    def catch_up(self, batch: int = BATCH) -> int:
        """Apply every event not yet projected; returns how many were applied."""
        applied = 0
        while True:
            with self.db.transaction():
                count = self._apply_next_batch(batch)
            applied += count
            if count < batch:
                return applied

    def rebuild(self, page: int = PAGE) -> int:
        """Rebuild every projection from the events into new tables, then switch to them
        (``rebuild.py``: reads and writes go on meanwhile); returns the events folded."""
        if not self._beside_events:  # e.g. in memory: emptied, then caught up
            with self.db.transaction():
                for table in TABLES:
                    self.db.execute(f"DELETE FROM {table.name}")
                self.db.execute(f"DELETE FROM {TRACKING} WHERE name = ?", (TRACKING_NAME,))
            return self.catch_up()
        # Both of the ledger's recorders (SQLite and PostgreSQL) name their events table.
        events_table: str = getattr(self.app.recorder, "events_table_name")  # noqa: B009
        return ShadowRebuild(self.db, events_table, self.app.mapper, page).run()

    def _apply_next_batch(self, batch: int) -> int:
        start = self.position(locked=True)
        notifications = self.app.recorder.select_notifications(start + 1, batch)
        if not notifications:
            return 0
        events = [(n, self.app.mapper.to_domain_event(n)) for n in notifications]
        fold = _Fold(self, events)
        fold.apply()
        fold.write()
        self.db.execute(
            f"INSERT INTO {TRACKING} (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (TRACKING_NAME, notifications[-1].id),
        )
        return len(notifications)

    # -- reading ------------------------------------------------------------------------

    def load(self, table: Table, kind: type[T], column: str, keys: Iterable[str]) -> list[T]:
        keys = list(keys)
        found: list[T] = []
        for i in range(0, len(keys), _IN_CHUNK):
            chunk = keys[i : i + _IN_CHUNK]
            marks = ", ".join("?" for _ in chunk)
            sql = f"SELECT {', '.join(table.columns)} FROM {table.name} WHERE {column} IN ({marks})"
            found += [from_values(kind, row) for row in self.db.query(sql, chunk)]
        return found

    def select(
        self,
        table: Table,
        kind: type[T],
        where: str = "",
        params: Sequence[Any] = (),
        order: str = "",
    ) -> list[T]:
        sql = _select_sql(table, where, order)
        return [from_values(kind, row) for row in self.db.query(sql, params)]

    def stream_decisions(self) -> Iterator[DecisionRow]:
        """Every decision row, in ledger-time order, without holding them all."""
        sql = _select_sql(DECISIONS, "", "observed_at, loop_id")
        return (from_values(DecisionRow, row) for row in self.db.stream(sql))

    def decision_tallies(self, loop_id: str | None = None) -> list[DecisionTally]:
        """The decisions (of one loop, or all) grouped as the audit counts them: hundreds
        of rows, not a row per decision (the engine groups them, in C)."""
        columns = ", ".join(TALLY_COLUMNS)
        where, params = ("WHERE loop_id = ? ", (loop_id,)) if loop_id is not None else ("", ())
        sql = (
            f"SELECT {columns}, COUNT(*), CAST(SUM(token_revived) AS BIGINT) "
            f"FROM {DECISIONS.name} {where}GROUP BY {columns}"
        )
        return [from_values(DecisionTally, row) for row in self.db.query(sql, params)]

    def finding_tallies(self, loop_id: str | None = None) -> list[FindingTally]:
        where, params = ("WHERE loop_id = ? ", (loop_id,)) if loop_id is not None else ("", ())
        sql = f"SELECT boot_id, kind, COUNT(*) FROM {FINDINGS.name} {where}GROUP BY boot_id, kind"
        return [FindingTally(str(b), str(k), int(n)) for b, k, n in self.db.query(sql, params)]

    def loops(self) -> list[LoopRow]:
        return self.select(LOOPS, LoopRow, order="registered_at, loop_id")

    def loops_named(self, loop_id: str) -> list[LoopRow]:
        return self.select(LOOPS, LoopRow, "loop_id = ?", (loop_id,))

    def boots(self) -> list[BootRow]:
        return self.select(BOOTS, BootRow, order="started_at, boot_id")

    def decisions(self, where: str = "", params: Sequence[Any] = ()) -> list[DecisionRow]:
        return self.select(DECISIONS, DecisionRow, where, params, order="observed_at, loop_id")

    def findings(self) -> list[Finding]:
        return self.select(FINDINGS, Finding, order="at, loop_id, kind")

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every projection table's content, in key order: for comparing rebuilds."""
        return {
            table.name: self.db.query(
                f"SELECT {', '.join(table.columns)} FROM {table.name} "
                f"ORDER BY {', '.join(table.key)}"
            )
            for table in TABLES
        }


class _Fold:
    """One batch: load the rows the events touch, fold the events in, write what changed."""

    def __init__(self, store: ProjectionStore, events: list[tuple[Any, Any]]) -> None:
        self.store = store
        # Each event's aggregate id as text and decision key, worked out once: a rebuild of
        # a million events spent a tenth of its time formatting the same UUIDs again.
        self.events: list[tuple[Any, Any, str, tuple[str, str] | None]] = []
        for notification, event in events:
            aggregate_id = str(event.originator_id)
            key = decision_key(event, aggregate_id) if is_loop_event(event) else None
            self.events.append((notification, event, aggregate_id, key))
        loop_ids = {a for _, e, a, _ in self.events if is_loop_event(e)}
        decision_boots = {k[0] for *_, k in self.events if k is not None}
        boot_ids = {a for _, e, a, _ in self.events if not is_loop_event(e)} | decision_boots
        self.loops = {
            r.aggregate_id: r for r in store.load(LOOPS, LoopRow, "aggregate_id", loop_ids)
        }
        self.boots = {r.boot_id: r for r in store.load(BOOTS, BootRow, "boot_id", boot_ids)}
        self.decisions: dict[tuple[str, str], DecisionRow] = {}
        for boot_id in decision_boots:
            for row in store.select(DECISIONS, DecisionRow, "boot_id = ?", (boot_id,)):
                self.decisions[(row.boot_id, row.aggregate_id)] = row
        self.changed_loops: set[str] = set()
        self.changed_decisions: set[tuple[str, str]] = set()
        self.changed_boots: set[str] = set()
        self.boots_moved = False

    def apply(self) -> None:
        for notification, event, aggregate_id, key in self.events:
            if is_loop_event(event):
                self._apply_loop_event(notification, event, aggregate_id, key)
            else:
                before = self.boots.get(aggregate_id)
                row = boot_after(before, event)
                if row is not None:
                    # Whether a boot is over changes when a newer one starts or it completes.
                    self.boots_moved |= before is None or (
                        row.completed_at is not None and before.completed_at is None
                    )
                    self.boots[aggregate_id] = row
                    self.changed_boots.add(aggregate_id)

    def _apply_loop_event(
        self, notification: Any, event: Any, aggregate_id: str, key: tuple[str, str] | None
    ) -> None:
        row = loop_after(self.loops.get(aggregate_id), event)
        if row is None:
            return
        self.loops[aggregate_id] = row
        self.changed_loops.add(aggregate_id)
        if key is not None:
            position = Position(aggregate_id, event.originator_version, notification.id)
            self.decisions[key] = decision_after(
                self.decisions.get(key), event, row.loop_id, position
            )
            self.changed_decisions.add(key)

    def write(self) -> None:
        db = self.store.db
        for table, rows in (
            (LOOPS, [self.loops[k] for k in self.changed_loops]),
            (BOOTS, [self.boots[k] for k in self.changed_boots]),
            (DECISIONS, [self.decisions[k] for k in self.changed_decisions]),
        ):
            if rows:
                db.executemany(table.upsert(), [to_values(r) for r in rows])
        self._write_findings()

    def _write_findings(self) -> None:
        store, db = self.store, self.store.db
        rows = [self.decisions[k] for k in self.changed_decisions]
        if self.boots_moved:
            # A boot that is over (a newer one started, or it completed) can no longer
            # answer its heartbeats.
            pending = store.select(DECISIONS, DecisionRow, PENDING_HEARTBEAT)
            known = {(r.boot_id, r.aggregate_id) for r in rows}
            rows += [r for r in pending if (r.boot_id, r.aggregate_id) not in known]
        if not rows:
            return
        latest = db.query(f"SELECT boot_id FROM {BOOTS.name} ORDER BY started_at DESC LIMIT 1")
        latest_boot = latest[0][0] if latest else None
        boots = {
            r.boot_id: r for r in store.load(BOOTS, BootRow, "boot_id", {r.boot_id for r in rows})
        }
        loops = {
            r.aggregate_id: r
            for r in store.load(LOOPS, LoopRow, "aggregate_id", {r.aggregate_id for r in rows})
        }
        db.executemany(
            f"DELETE FROM {FINDINGS.name} WHERE boot_id = ? AND loop_id = ?",
            [(r.boot_id, r.loop_id) for r in rows],
        )
        found: list[Finding] = []
        for row in rows:
            boot = boots.get(row.boot_id)
            boot_over = row.boot_id != latest_boot or (
                boot is not None and boot.completed_at is not None
            )
            loop = loops.get(row.aggregate_id)
            found += findings_for(
                row, provenance=loop.provenance if loop else "", boot_over=boot_over
            )
        if found:
            db.executemany(FINDINGS.upsert(), [to_values(f) for f in found])


def _select_sql(table: Table, where: str, order: str) -> str:
    sql = f"SELECT {', '.join(table.columns)} FROM {table.name}"
    if where:
        sql += f" WHERE {where}"
    if order:
        sql += f" ORDER BY {order}"
    return sql


def caught_up(app: LedgerApp) -> ProjectionStore:
    """A projection store that has applied every event committed so far."""
    database = None
    if app.location.read_only:  # nowhere to keep the rows: fold them in memory
        from recovery_ledger.infra.projection_store.database import SQLiteDatabase

        database = SQLiteDatabase(":memory:")
    store = ProjectionStore(app, database)
    store.catch_up()
    return store
