"""Projections are updated exactly once per event: the tracking position is written in the
transaction that writes the rows, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from recovery_ledger.infra.bootstrap import ledger_app
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.projection_store import store as store_module
from recovery_ledger.infra.projection_store.schema import TABLES, TRACKING
from recovery_ledger.infra.projection_store.store import ProjectionStore
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.location import resolve_location

from ..conftest import Ledger, run_cli

pytestmark = [pytest.mark.slow, pytest.mark.both_backends]


@pytest.fixture
def built(built_ledger: Ledger) -> Iterator[LedgerApp]:
    ledger = built_ledger
    app = ledger_app(resolve_location(ledger.arg), KeyStore(ledger.keys_dir), create=False)
    yield app
    app.close()


def _tables(store: ProjectionStore) -> dict[str, Any]:
    return {**store.dump(), "position": store.position()}


def _event_count(app: LedgerApp) -> int:
    return int(app.recorder.max_notification_id() or 0)


def test_catching_up_twice_applies_nothing_the_second_time(built: LedgerApp) -> None:
    store = ProjectionStore(built)
    store.rebuild()
    first = _tables(store)
    assert first["position"] == _event_count(built)
    assert store.catch_up() == 0
    assert _tables(store) == first
    store.close()


def test_small_batches_give_the_same_tables_as_one_big_batch(built: LedgerApp) -> None:
    store = ProjectionStore(built)
    store.rebuild()
    whole = _tables(store)
    store.rebuild()  # rebuild then re-apply one event per transaction
    with store.db.transaction():
        for table in TABLES:
            store.db.execute(f"DELETE FROM {table.name}")
        store.db.execute(f"DELETE FROM {TRACKING}")
    assert store.catch_up(batch=1) == _event_count(built)
    assert _tables(store) == whole
    store.close()


def test_a_batch_that_fails_half_way_leaves_rows_and_position_as_they_were(
    built: LedgerApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ProjectionStore(built)
    with store.db.transaction():
        store._apply_next_batch(10)  # part of the ledger projected
    before = _tables(store)
    assert before["position"] == 10

    original_write = store_module._Fold.write

    def write_then_crash(self: Any) -> None:
        original_write(self)  # the rows are written...
        raise RuntimeError("power cut")  # ...but the position never is

    monkeypatch.setattr(store_module._Fold, "write", write_then_crash)
    with pytest.raises(RuntimeError, match="power cut"):
        store.catch_up()
    assert _tables(store) == before  # rolled back together: nothing applied twice later

    monkeypatch.setattr(store_module._Fold, "write", original_write)
    store.catch_up()
    after = _tables(store)
    store.rebuild()
    assert _tables(store) == after  # the resumed catch-up equals a rebuild from scratch
    store.close()


def test_a_projection_behind_the_ledger_is_caught_up_before_any_command_answers(
    built: LedgerApp, ledger: Ledger
) -> None:
    store = ProjectionStore(built)
    store.rebuild()
    position = store.position()
    # New events arrive without anyone projecting them (e.g. written by an older version).
    built.finalize_loop("revivable", "finalized behind the projection's back")
    assert store.position() == position  # the projection is behind...
    stale = {row.loop_id: row.state for row in store.loops()}
    assert stale["revivable"] == "open"
    store.close()

    listing = run_cli("loops", "--json", env=ledger.env()).json()  # ...but no answer is
    assert isinstance(listing, dict)
    states = {row["loop_id"]: row["state"] for row in listing["loops"]}
    assert states["revivable"] == "finalized"


def test_audit_from_grouped_tallies_equals_audit_from_every_row(built: LedgerApp) -> None:
    from recovery_ledger.projections.audit import AuditRange, audit_report

    store = ProjectionStore(built)
    store.catch_up()
    boots = store.boots()
    everything = AuditRange(None, None, None)
    from_rows = audit_report(everything, boots, store.stream_decisions(), store.findings())
    assert from_rows["totals"]["loops_examined"] > 0
    assert from_rows["totals"]["heartbeats"] and from_rows["totals"]["revivals"]
    tallies = store.decision_tallies()
    assert sum(t.count for t in tallies) == from_rows["totals"]["loops_examined"]
    assert audit_report(everything, boots, tallies, store.finding_tallies()) == from_rows
    store.close()
