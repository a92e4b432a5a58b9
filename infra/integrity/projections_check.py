"""``verify``'s check of the read models: every projection row must be what the events give.

The stored projections (caught up first, as every read command does) are compared row by row,
key by key, with a fold of every event into a private in-memory database. The fold is the
same code that maintains the stored rows, so any difference is an edit of the rows (or of
their tracking position), never a rounding of two implementations. Its cost is one
``projections rebuild`` in memory (docs/performance.md).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from recovery_ledger.infra.store.app import LedgerApp

if TYPE_CHECKING:
    from recovery_ledger.infra.integrity.verify import VerifyReport
    from recovery_ledger.infra.projection_store.schema import Table
    from recovery_ledger.infra.projection_store.store import ProjectionStore


def check_projections(app: LedgerApp, report: VerifyReport) -> None:
    from recovery_ledger.infra.projection_store.database import SQLiteDatabase
    from recovery_ledger.infra.projection_store.schema import TABLES
    from recovery_ledger.infra.projection_store.store import ProjectionStore, caught_up

    if app.location.read_only:
        return  # nothing stored is read: the read commands fold in memory too
    fresh = ProjectionStore(app, SQLiteDatabase(":memory:"))
    try:
        fresh.catch_up()
        stored = caught_up(app)
    except Exception as error:  # events that do not fold are reported by the walk already
        report.problem(
            "projections_unchecked",
            f"the projections could not be checked: the events do not fold "
            f"({type(error).__name__})",
        )
        fresh.close()
        return
    try:
        for table in TABLES:
            _compare(table, _rows(stored, table), _rows(fresh, table), report)
    finally:
        fresh.close()
        stored.close()


def _rows(store: ProjectionStore, table: Table) -> dict[tuple[Any, ...], Any]:
    rows = store.select(table, table.kind)
    return {tuple(getattr(row, column) for column in table.key): row for row in rows}


def _compare(
    table: Table,
    stored: dict[tuple[Any, ...], Any],
    derived: dict[tuple[Any, ...], Any],
    report: VerifyReport,
) -> None:
    for key in sorted(stored.keys() | derived.keys(), key=repr):
        have, want = stored.get(key), derived.get(key)
        if have == want:
            continue
        if want is None:
            what = "is not what any event gives (added)"
        elif have is None:
            what = "is missing (deleted)"
        else:
            columns = [name for name in table.columns if getattr(have, name) != getattr(want, name)]
            what = f"differs from what the events give in {', '.join(columns)} (edited)"
        report.problem(
            "projection_mismatch",
            f"the {table.name} row {'/'.join(map(str, key))} {what}: "
            "run `projections rebuild` after finding out who changed it",
            table=table.name,
            key=[str(part) for part in key],
        )
