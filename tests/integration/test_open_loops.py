"""The open-loop index, kept by the recorder in the events' own transaction, on both backends:
a boot reads only open loops, never a finalized loop's history, and a ledger written before
the index existed gets it filled once when it is opened."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest

from recovery_ledger.domain.loop import Loop, loop_aggregate_id
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.open_loops import (
    FINALIZED_TOPIC,
    OPEN_LOOPS_TABLE,
    REGISTERED_TOPIC,
)
from recovery_ledger.infra.store.recorders import INDEXES_TABLE

from ..conftest import Ledger
from .test_store import make_token

pytestmark = pytest.mark.both_backends


def _register(app: LedgerApp, loop_id: str, host: str) -> None:
    app.register_loop(
        loop_id=loop_id,
        provenance="desktop_managed",
        pid=4242,
        pid_start_time=1.0,
        host_id=host,
        token=make_token(loop_id),
    )


def _fill(app: LedgerApp) -> None:
    for n, host in enumerate(("here", "there", "here", "here", "there")):
        _register(app, f"loop-{n}", host)
    app.finalize_loop("loop-2", "user_closed")
    app.finalize_loop("loop-4", "user_closed")


def _ids(loops: list[Loop]) -> list[str]:
    return [loop.loop_id for loop in loops]


def _sql(app: LedgerApp, statement: str) -> None:
    with app.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
        if app.location.path is None:
            cursor.execute(f"SET search_path TO {app.recorder.datastore.schema}")  # type: ignore[attr-defined]
        cursor.execute(statement)


def test_topics_written_out_in_the_index_are_the_domain_topics() -> None:
    assert REGISTERED_TOPIC == Loop.Registered.TOPIC
    assert FINALIZED_TOPIC == Loop.Finalized.TOPIC


def test_open_loops_are_registered_minus_finalized_per_host_in_registration_order(
    ledger: Ledger,
) -> None:
    app = ledger.open_app()
    _fill(app)
    assert _ids(app.open_loops("here")) == ["loop-0", "loop-3"]
    assert _ids(app.open_loops("there")) == ["loop-1"]
    assert _ids(app.open_loops()) == ["loop-0", "loop-1", "loop-3"]
    assert app.open_loops("elsewhere") == []


def test_reading_open_loops_never_reads_a_finalized_loops_events(
    ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = ledger.open_app()
    _fill(app)
    read: list[UUID] = []
    select_events = app.recorder.select_events
    histories = app.recorder.open_loop_histories  # type: ignore[attr-defined]

    def spy(originator_id: Any, **kwargs: Any) -> Any:
        read.append(UUID(str(originator_id)))
        return select_events(originator_id, **kwargs)

    def spy_histories(*args: Any) -> Any:
        found = histories(*args)
        read.extend(event.originator_id for history in found for event in history.events)
        return found

    monkeypatch.setattr(app.recorder, "select_events", spy)
    monkeypatch.setattr(app.recorder, "open_loop_histories", spy_histories)
    app.open_loops()
    app.shred_cleared_keys("here")
    assert set(read) == {loop_aggregate_id(f"loop-{n}") for n in (0, 1, 3)}


def test_a_ledger_written_before_the_index_gets_it_filled_when_opened(ledger: Ledger) -> None:
    app = ledger.open_app()
    _fill(app)
    _sql(app, f"DROP TABLE {OPEN_LOOPS_TABLE}")
    _sql(app, f"DELETE FROM {INDEXES_TABLE}")
    app.close()
    reopened = ledger.open_app()
    assert _ids(reopened.open_loops()) == ["loop-0", "loop-1", "loop-3"]
    _register(reopened, "loop-5", "here")
    reopened.finalize_loop("loop-0", "user_closed")
    assert _ids(reopened.open_loops("here")) == ["loop-3", "loop-5"]


def test_the_sweep_destroys_a_key_left_behind_by_a_crash_after_finalizing(
    ledger: Ledger,
) -> None:
    app = ledger.open_app()
    _fill(app)
    finalized = loop_aggregate_id("loop-2")
    assert not app.keys.has_data_key(finalized)
    app.keys.data_key(finalized, create=True)  # as if the process died before destroying it
    assert app.shred_cleared_keys("there") == 0  # another host's loop: not ours to sweep
    assert app.shred_cleared_keys("here") == 1
    assert not app.keys.has_data_key(finalized)
    assert all(app.keys.has_data_key(loop_aggregate_id(f"loop-{n}")) for n in (0, 1, 3))
