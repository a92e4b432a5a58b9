"""``projections rebuild`` without downtime: build beside the live tables, then switch.

The new rows are built into shadow tables (``rl_loops__next``, ...) a page of events at a
time, each page's rows written in a short transaction of their own, while boots write
events and read commands keep catching the live tables up. The switch is one transaction:
it folds the events written since the last page, renames the live tables away and the shadow
tables into their place, and sets the tracking position to the shadow's, so a reader sees
the old tables at the old position or the new ones at the new, never a mix. On PostgreSQL it
locks the tracking row, which every catch-up locks first; the shadow indexes are built once
over the full tables, and the old tables dropped in one statement, neither touching a table
anyone else uses.

SQLite has one write lock for the whole file, so there every transaction of a rebuild is
kept to a page's size, and a boot's write waits at most that long: the shadow indexes are
made on the empty tables and kept up page by page (building them over a million events' rows
held the lock 0.86 s), and the old tables lose their indexes and are emptied a page of rows
at a time before they are dropped (dropping them whole held it 0.51 s). Over the 1M-event
ledger of bench/read_side.py the longest transaction went from 855 ms to 99 ms, for 8-17%
more time in all (docs/performance.md).

The fold is ``rebuild_fold.RebuildFold`` (the rows of ``projections.rows`` from the raw
event states); the findings are ``projections.zombies.findings_for`` of the rows that may
have any, the interrupted heartbeats once the whole ledger is folded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import orjson

from recovery_ledger.infra.projection_store.codec import from_values, to_values
from recovery_ledger.infra.projection_store.database import Database
from recovery_ledger.infra.projection_store.rebuild_fold import (
    EVIDENCE,
    B,
    D,
    L,
    RebuildFold,
    Row,
    evidence_text,
)
from recovery_ledger.infra.projection_store.schema import (
    BOOTS,
    DECISIONS,
    FINDINGS,
    INDEXES,
    LOOPS,
    TABLES,
    TRACKING,
    TRACKING_NAME,
    Table,
)
from recovery_ledger.projections.rows import DecisionRow
from recovery_ledger.projections.zombies import findings_for, may_find

if TYPE_CHECKING:
    from eventsourcing.persistence import Mapper

PAGE = 20_000
SHADOW, OLD = "__next", "__old"
_FINALIZED, _BEGUN, _HTTP = D["outcome"], D["heartbeat_begun"], D["status_http"]


def state_decoder(mapper: Mapper[Any]) -> Callable[[bytes], Any]:
    """Stored state to its JSON value, as the mapper would before building the event."""
    cipher, compressor = mapper.cipher, mapper.compressor
    if cipher is None and compressor is None:
        return orjson.loads

    def decode(state: bytes) -> Any:
        if cipher is not None:
            state = cipher.decrypt(state)
        if compressor is not None:
            state = compressor.decompress(state)
        return orjson.loads(state)

    return decode


class ShadowRebuild:
    def __init__(self, db: Database, events_table: str, mapper: Mapper[Any], page: int = PAGE):
        self.db = db
        self.events_table = events_table
        self.decode = state_decoder(mapper)
        self.page = page
        self.fold = RebuildFold(self._load_decision)
        self.position = 0
        self.applied = 0
        # Rows that may show a heartbeat begun and never answered: their findings depend on
        # which boot is the newest and whether it completed, known once everything is in.
        self.pending: dict[tuple[str, str], Row] = {}

    def run(self) -> int:
        """Rebuild every projection; returns the number of events folded."""
        self._create_shadow()
        while True:
            count = self._fold_page()
            with self.db.transaction():
                self._write_decisions(self.fold.evict())
            if count < self.page:
                break
        if not self.db.one_writer:  # once over the full tables: cheaper than row by row
            self._create_shadow_indexes()
        with self.db.transaction():
            self.db.query(
                f"SELECT position FROM {TRACKING} WHERE name = ?{self.db.lock_row}",
                (TRACKING_NAME,),
            )
            while self._fold_page() == self.page:
                pass  # the events written since the last page: a page, or a few
            self._finish()
            self._switch()
        self._drop_old()
        return self.applied

    # -- building ---------------------------------------------------------------------------

    def _create_shadow(self) -> None:
        with self.db.transaction():
            for table in TABLES:  # left by a rebuild that crashed
                self.db.execute(f"DROP TABLE IF EXISTS {table.name}{SHADOW}")
                self.db.execute(f"DROP TABLE IF EXISTS {table.name}{OLD}")
        with self.db.transaction():
            for table in TABLES:
                self.db.execute(table.create(table.name + SHADOW))
        if self.db.one_writer:
            self._create_shadow_indexes()

    def _create_shadow_indexes(self) -> None:
        with self.db.transaction():
            existing = self.db.index_names()
            for index in INDEXES:
                statement = index.create(existing, index.table.name + SHADOW)
                assert statement is not None  # always made for a named table
                self.db.execute(statement)

    def _drop_old(self) -> None:
        for table in TABLES:
            name = f"{table.name}{OLD}"
            if self.db.one_writer:
                self._drop_indexes_of(name)  # fewer b-trees for every delete to keep up
                while self._delete_some(name):
                    pass
            with self.db.transaction():
                self.db.execute(f"DROP TABLE IF EXISTS {name}")

    def _drop_indexes_of(self, table: str) -> None:
        for (index,) in self.db.query(  # sql NULL: the primary key's, which goes with it
            "SELECT name FROM sqlite_master "
            "WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
            (table,),
        ):
            with self.db.transaction():
                self.db.execute(f"DROP INDEX IF EXISTS {index}")

    def _delete_some(self, name: str) -> bool:
        """A page of the old table's rows deleted in a transaction of its own; whether any
        were left to delete."""
        with self.db.transaction():
            if not self.db.query("SELECT 1 FROM sqlite_master WHERE name = ?", (name,)):
                return False
            self.db.execute(
                f"DELETE FROM {name} WHERE rowid IN (SELECT rowid FROM {name} LIMIT ?)",
                (self.page,),
            )
            return bool(self.db.query("SELECT changes()")[0][0])

    def _fold_page(self) -> int:
        rows = self.db.events_after(self.events_table, self.position, self.page)
        apply, decode = self.fold.apply, self.decode
        for position, originator_id, version, topic, state in rows:
            apply(position, originator_id, version, topic, decode(state))
        if rows:
            self.position = rows[-1][0]
        self.applied += len(rows)
        return len(rows)

    def _load_decision(self, boot_id: str, aggregate_id: str) -> Row | None:
        found = self.db.query(
            f"SELECT {', '.join(DECISIONS.columns)} FROM {DECISIONS.name}{SHADOW} "
            "WHERE boot_id = ? AND aggregate_id = ?",
            (boot_id, aggregate_id),
        )
        if not found:
            return None
        self.pending.pop((boot_id, aggregate_id), None)
        row = list(found[0])
        row[EVIDENCE] = orjson.loads(row[EVIDENCE])
        return row

    def _write_decisions(self, rows: Iterable[Row]) -> None:
        new: list[tuple[Any, ...]] = []
        again: list[tuple[Any, ...]] = []
        findings: list[tuple[Any, ...]] = []
        reloaded = self.fold.reloaded
        for row in rows:
            values = (*row[:EVIDENCE], evidence_text(row[EVIDENCE]))
            key = (row[D["boot_id"]], row[D["aggregate_id"]])
            (again if key in reloaded else new).append(values)
            if row[D["heartbeat_begun"]] and not row[D["heartbeat_answered"]]:
                self.pending[key] = row
            elif (row[_FINALIZED] == "finalized" or row[_BEGUN] or row[_HTTP] == 401) and (
                self._may_find(row)
            ):  # the first test only saves a call for the many rows with nothing to find
                findings += self._findings(values, boot_over=True)
        self._insert(DECISIONS, new)
        if again:  # rows written before: replaced, and their findings with them
            self.db.executemany(DECISIONS.upsert(DECISIONS.name + SHADOW), again)
            self.db.executemany(
                f"DELETE FROM {FINDINGS.name}{SHADOW} WHERE boot_id = ? AND loop_id = ?",
                [(v[D["boot_id"]], v[D["loop_id"]]) for v in again],
            )
            reloaded -= {(v[D["boot_id"]], v[D["aggregate_id"]]) for v in again}
        self._insert(FINDINGS, findings)

    def _may_find(self, row: Row) -> bool:
        return may_find(
            finalized=row[D["outcome"]] == "finalized",
            heartbeat_begun=bool(row[D["heartbeat_begun"]]),
            heartbeat_answered=bool(row[D["heartbeat_answered"]]),
            alive=None if row[D["alive"]] is None else bool(row[D["alive"]]),
            status_http=row[D["status_http"]],
            pop_reason=row[D["pop_reason"]],
        )

    def _findings(self, values: tuple[Any, ...], *, boot_over: bool) -> list[tuple[Any, ...]]:
        decision = from_values(DecisionRow, values)
        loop = self.fold.loops.get(decision.aggregate_id)
        provenance = loop[L["provenance"]] if loop is not None else ""
        found = findings_for(decision, provenance=provenance, boot_over=boot_over)
        return [tuple(to_values(finding)) for finding in found]

    def _insert(self, table: Table, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            name = table.name + SHADOW
            self.db.insert_rows(table.insert(name), name, table.columns, rows)

    # -- the switch -------------------------------------------------------------------------

    def _finish(self) -> None:
        """Write what is still in memory: the last boots' decisions, every loop and boot, and
        the findings of heartbeats begun and never answered."""
        self._write_decisions(self.fold.evict(everything=True))
        self._insert(LOOPS, [tuple(row) for row in self.fold.loops.values()])
        self._insert(BOOTS, [tuple(row) for row in self.fold.boots.values()])
        boots = {row[B["boot_id"]]: row for row in self.fold.boots.values()}
        # projections.store: the newest boot is the one started last.
        newest = max(boots.values(), key=lambda row: row[B["started_at"]], default=None)
        latest = newest[B["boot_id"]] if newest is not None else None
        findings: list[tuple[Any, ...]] = []
        for (boot_id, _), row in self.pending.items():
            boot = boots.get(boot_id)
            over = boot_id != latest or (boot is not None and boot[B["completed_at"]] is not None)
            values = (*row[:EVIDENCE], evidence_text(row[EVIDENCE]))
            findings += self._findings(values, boot_over=over)
        self._insert(FINDINGS, findings)

    def _switch(self) -> None:
        for table in TABLES:
            self.db.execute(f"ALTER TABLE {table.name} RENAME TO {table.name}{OLD}")
            self.db.execute(f"ALTER TABLE {table.name}{SHADOW} RENAME TO {table.name}")
        self.db.execute(
            f"INSERT INTO {TRACKING} (name, position) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
            (TRACKING_NAME, self.position),
        )
