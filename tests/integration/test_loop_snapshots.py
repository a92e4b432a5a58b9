"""Loop snapshots (infra/store/snapshots.py), on both backends: a long-lived loop is read as its
newest sealed snapshot plus the events after it, exactly as if folded from every event; a
snapshot that fails its seal, or that cannot be checked, is never used; and snapshots are
derived data whose failure never fails a write."""

from __future__ import annotations

import sqlite3
from typing import Any
from uuid import UUID

import pytest

from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import LivenessObservation
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.store.app import LedgerApp, open_ledger
from recovery_ledger.infra.store.location import resolve_location
from recovery_ledger.infra.store.loop_projector import project_loop
from recovery_ledger.infra.store.snapshots import EVERY, TABLE

from ..boot_history import quiet_boot
from ..conftest import Ledger
from .test_store import make_token

ALIVE = LivenessObservation(True, "running", 1.0)


def _live_through_boots(app: LedgerApp, loop_id: str, boots: int) -> Loop:
    """A loop registered, then observed and reattached by ``boots`` boots (4 events each),
    with a token rotated now and then, each boot one save as a boot does it."""
    loop = app.register_loop(
        loop_id=loop_id,
        provenance="desktop_managed",
        pid=4242,
        pid_start_time=1.0,
        host_id="here",
        token=make_token(f"{loop_id}-0"),
    )
    for n in range(boots):
        loop = _one_more_boot(app, loop)
        if n % 17 == 16:
            loop = app.record_token(loop_id, make_token(f"{loop_id}-{n}"))
    return loop


def _one_more_boot(app: LedgerApp, loop: Loop) -> Loop:
    quiet_boot([loop], host_id="here")
    app.save(loop)
    return loop


def _folded_from_every_event(app: LedgerApp, aggregate_id: UUID) -> Loop:
    loop = project_loop(None, app.events.get(aggregate_id))
    assert loop is not None
    return loop


def _state(loop: Loop) -> dict[str, Any]:
    return {k: v for k, v in vars(loop).items() if k != "_pending_events"}


def _events_read_by_get(app: LedgerApp, aggregate_id: UUID) -> tuple[Loop, int]:
    reads: list[int] = []
    store = app.repository.event_store
    original = store.get

    def counting(*args: Any, **kwargs: Any) -> Any:
        events = list(original(*args, **kwargs))
        reads.append(len(events))
        return events

    store.get = counting  # type: ignore[method-assign]
    try:
        loop = app.repository.get(aggregate_id, projector_func=project_loop)
    finally:
        del store.get
    return loop, sum(reads)


def _read_by_open_loops(app: LedgerApp, loop_id: str) -> tuple[Loop, int]:
    """The loop as ``open_loops`` (the boot's read) gives it, and how many stored events and
    snapshots it decoded for every open loop."""
    decoded: list[Any] = []
    original = app.mapper.to_domain_event

    def counting(stored: Any) -> Any:
        decoded.append(stored)
        return original(stored)

    app.mapper.to_domain_event = counting  # type: ignore[method-assign,assignment]
    try:
        loops = {loop.loop_id: loop for loop in app.open_loops()}
    finally:
        del app.mapper.to_domain_event
    return loops[loop_id], len(decoded)


@pytest.mark.both_backends
def test_open_loops_are_read_from_their_snapshots_exactly_as_folded(ledger: Ledger) -> None:
    app = ledger.open_app()
    try:
        ages = {"young": 3, "crossing": EVERY // 4, "old": EVERY // 2 + 5}
        written = {
            loop_id: _live_through_boots(app, loop_id, boots) for loop_id, boots in ages.items()
        }
        assert written["old"].version > 2 * EVERY and written["young"].version < EVERY
        loops = app.open_loops()
        assert [loop.loop_id for loop in loops] == list(ages)
        for loop in loops:
            assert _state(loop) == _state(_folded_from_every_event(app, loop.id))
            assert _state(loop) == _state(written[loop.loop_id])
        _, decoded = _read_by_open_loops(app, "old")
        # Each loop's newest snapshot and what came after: the young loop's every event.
        assert decoded < written["young"].version + 2 * EVERY
        assert decoded < sum(loop.version for loop in written.values()) // 2
    finally:
        app.close()


@pytest.mark.both_backends
def test_a_long_lived_loop_is_read_from_its_snapshot_exactly_as_folded(ledger: Ledger) -> None:
    app = ledger.open_app()
    try:
        written = _live_through_boots(app, "long", 3 * EVERY // 4 + 7)  # ~3 snapshots
        assert written.version > 2 * EVERY
        read, events_read = _events_read_by_get(app, written.id)
        assert _state(read) == _state(_folded_from_every_event(app, written.id))
        assert _state(read) == _state(written)
        assert events_read < EVERY  # the snapshot and what came after, not the history
        snapshots = list(app.loop_snapshots.get(written.id))
        assert [s.originator_version // EVERY for s in snapshots] == [1, 2, 3][: len(snapshots)]
        assert len(snapshots) == written.version // EVERY
    finally:
        app.close()


def _snapshot_rows(path: str) -> list[tuple[str, int, bytes]]:
    with sqlite3.connect(path) as db:
        return [
            (r[0], r[1], bytes(r[2]))
            for r in db.execute(f"SELECT originator_id, originator_version, state FROM {TABLE}")
        ]


def test_a_snapshot_edited_in_the_ledger_file_is_never_used(ledger: Ledger) -> None:
    app = ledger.open_app()
    written = _live_through_boots(app, "long", EVERY // 4 + 2)
    app.close()
    ((originator, _, state),) = _snapshot_rows(ledger.arg)
    forged = state.replace(b'"pid":4242', b'"pid":4343')
    assert forged != state
    with sqlite3.connect(ledger.arg) as db:
        db.execute(f"UPDATE {TABLE} SET state = ? WHERE originator_id = ?", (forged, originator))
    app = ledger.open_app()
    try:
        read, events_read = _events_read_by_get(app, written.id)
        assert read.pid == 4242  # from the events, not the forged snapshot
        assert events_read == written.version
        read, _ = _read_by_open_loops(app, "long")
        assert _state(read) == _state(written)
    finally:
        app.close()


def test_a_snapshot_moved_to_another_loop_is_never_used(ledger: Ledger) -> None:
    app = ledger.open_app()
    first = _live_through_boots(app, "first", EVERY // 4 + 2)
    second = _live_through_boots(app, "second", EVERY // 4 + 2)
    app.close()
    rows = {r[0]: r for r in _snapshot_rows(ledger.arg)}
    with sqlite3.connect(ledger.arg) as db:  # the first loop's snapshot, under the second's id
        db.execute(f"DELETE FROM {TABLE} WHERE originator_id = ?", (second.id.hex,))
        db.execute(
            f"INSERT INTO {TABLE} VALUES (?, ?, ?, ?)",
            (second.id.hex, rows[first.id.hex][1], "rl:Loop.Snapshot@1", rows[first.id.hex][2]),
        )
    app = ledger.open_app()
    try:
        read, events_read = _events_read_by_get(app, second.id)
        assert read.loop_id == "second"
        assert events_read == second.version
        assert _state(_read_by_open_loops(app, "second")[0]) == _state(second)
        assert _state(_read_by_open_loops(app, "first")[0]) == _state(first)
    finally:
        app.close()


def test_without_the_key_directory_loops_are_folded_and_no_snapshot_is_taken(
    ledger: Ledger, tmp_path: Any
) -> None:
    app = ledger.open_app()
    written = _live_through_boots(app, "long", EVERY // 4 + 2)
    app.close()
    stranger = open_ledger(resolve_location(ledger.arg), KeyStore(tmp_path / "none"), create=False)
    try:
        read, events_read = _events_read_by_get(stranger, written.id)
        assert _state(read) == _state(written)
        assert events_read == written.version
        read, decoded = _read_by_open_loops(stranger, "long")
        assert _state(read) == _state(written)
        assert decoded == written.version
    finally:
        stranger.close()


def test_a_snapshot_that_cannot_be_written_fails_nothing(ledger: Ledger) -> None:
    app = ledger.open_app()
    try:
        loop = _live_through_boots(app, "long", EVERY // 4 - 1)
        with sqlite3.connect(ledger.arg) as db:
            db.execute(f"DROP TABLE {TABLE}")
        for _ in range(3):  # crosses EVERY: the snapshot's write fails
            loop = _one_more_boot(app, loop)
        assert loop.version > EVERY
        assert _state(_folded_from_every_event(app, loop.id)) == _state(loop)
    finally:
        app.close()
