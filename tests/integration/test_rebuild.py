"""``projections rebuild``: its fold (``rebuild_fold.py``) gives exactly the rows of the
reference fold (``projections.rows`` through catch-up) on varied ledgers, and it builds
beside the live tables, so writes and reads go on during it."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer
from recovery_ledger.infra.bootstrap import ledger_app
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.projection_store import rebuild as rebuild_module
from recovery_ledger.infra.projection_store.database import SQLiteDatabase
from recovery_ledger.infra.projection_store.store import ProjectionStore
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.location import resolve_location

from ..boot_history import NEVER_EXPIRING_TOKEN
from ..conftest import Ledger

pytestmark = pytest.mark.slow

ANSWERS = (
    StatusAnswer(200, "active"),
    StatusAnswer(200, "terminal"),
    StatusAnswer(401),
    StatusAnswer(404),
    StatusAnswer(None, error="timeout"),
)
HEARTBEATS = (HeartbeatAnswer(200, True), HeartbeatAnswer(200, False), HeartbeatAnswer(503))


@pytest.fixture
def app(ledger: Ledger) -> Iterator[LedgerApp]:
    opened = ledger_app(resolve_location(ledger.arg), KeyStore(ledger.keys_dir), create=True)
    yield opened
    opened.close()


def _observe(rng: random.Random, loop: Loop, boot_id: Any) -> None:
    alive = rng.random() < 0.7
    loop.observe_runner(boot_id, LivenessObservation(alive, "running" if alive else "dead", None))


def _examine(rng: random.Random, loop: Loop, boot_id: Any) -> bool:
    """The rest of one boot's events for one loop, of every kind, in the orders boots write
    them; some stop half-way (a crash) and leave a heartbeat begun and never answered."""
    for attempt in range(1, rng.randint(0, 2) + 1):
        loop.observe_cloud(boot_id, attempt, rng.choice(ANSWERS))
    pop = rng.random() < 0.7
    reason = "available" if pop else rng.choice(("missing", "not_configured"))
    loop.classify(
        boot_id,
        rng.choice(("v3-pop-guarded", "v1-legacy")),
        rng.choice(("active", "terminal", "pop_fallback", "transient")),
        pop_available=pop,
        pop_reason=reason,
        post_heartbeat=pop,
    )
    if pop and rng.random() < 0.6:
        loop.begin_heartbeat(boot_id, f"proof-{uuid4().hex[:8]}", "https://cloud.example/hb")
        if rng.random() < 0.2:
            return False  # crashed before the answer
        answer = rng.choice(HEARTBEATS)
        loop.record_heartbeat_answer(boot_id, answer)
        if answer.revived and rng.random() < 0.8:
            loop.revive_token(boot_id, _sealed(loop))
    if rng.random() < 0.3:
        reason = rng.choice(("unauthorized", "dead_pid", "cloud_terminal"))
        word = rng.choice(("status:active", "heartbeat:revived", None))
        loop.finalize(reason, boot_id=boot_id, cloud_last_word=word, by="boot")
    else:
        loop.reattach(boot_id, rng.choice(("confirmed", "conservative")))
    return True


def _sealed(loop: Loop) -> Any:
    from recovery_ledger.domain.loop import SealedToken

    expires = datetime.now(UTC) + timedelta(hours=1, microseconds=random.randint(0, 9))
    return SealedToken(f"jti-{uuid4().hex[:6]}", expires, "f" * 64, b"sealed", "k", "revived")


def write_varied_ledger(app: LedgerApp, seed: int, boots: int = 6) -> None:
    rng = random.Random(seed)
    provenances = ("desktop_managed", "user_created")
    loops = [
        app.register_loop(
            loop_id=f"loop-{seed}-{i}",
            provenance=rng.choice(provenances),
            pid=1000 + i,
            pid_start_time=1.0,
            host_id=f"host-{i % 2}",
            token=NEVER_EXPIRING_TOKEN,
        )
        for i in range(rng.randint(3, 7))
    ]
    unanswered: list[tuple[Loop, Any]] = []
    for number in range(boots):
        boot_id = uuid4()
        open_loops = [loop for loop in loops if not loop.is_finalized]
        boot = Boot(boot_id, "v3-pop-guarded", "host-0", "h", "t", "https://c", [])
        app.save(boot)
        # Every runner is observed first, as boots do: a decision's events are far apart, so
        # with small pages its row leaves the rebuild's memory and is read back.
        for loop in open_loops:
            _observe(rng, loop, boot_id)
        app.save(*open_loops)
        for loop in open_loops:
            if not _examine(rng, loop, boot_id):
                unanswered.append((loop, boot_id))
            app.save(loop)
        if rng.random() < 0.8 or number == boots - 1:
            boot.complete({"examined": len(open_loops), "reattached": rng.randint(0, 3)})
            app.save(boot)
    for loop, boot_id in unanswered[::2]:  # an old boot's answer, recorded late
        if not loop.is_finalized:
            loop.record_heartbeat_answer(boot_id, rng.choice(HEARTBEATS))
            app.save(loop)
    for loop in loops:  # finalized by the host outside a boot, a token cleared
        if not loop.is_finalized and rng.random() < 0.3:
            loop.finalize("host_finalized", boot_id=None, cloud_last_word=None, by="host")
            app.save(loop)


def _reference(app: LedgerApp, batch: int) -> dict[str, list[tuple[Any, ...]]]:
    store = ProjectionStore(app, SQLiteDatabase(":memory:"))
    store.catch_up(batch=batch)
    try:
        return store.dump()
    finally:
        store.close()


@pytest.mark.both_backends
@pytest.mark.parametrize("seed", range(8))
def test_the_rebuild_gives_the_rows_of_the_reference_fold(app: LedgerApp, seed: int) -> None:
    write_varied_ledger(app, seed)
    reference = _reference(app, batch=5000)
    assert reference == _reference(app, batch=7)  # the reference itself is batch-independent
    assert reference["rl_decisions"] and reference["rl_findings"]
    store = ProjectionStore(app)
    for page in (3, 50_000):  # tiny pages: boots' rows leave memory and come back
        assert store.rebuild(page=page) == app.recorder.max_notification_id()
        assert store.dump() == reference
        assert store.position() == app.recorder.max_notification_id()
    store.close()
    elsewhere = ProjectionStore(app, SQLiteDatabase(":memory:"))  # no events table beside it
    assert elsewhere.rebuild() == app.recorder.max_notification_id()
    assert elsewhere.dump() == reference
    elsewhere.close()


@pytest.mark.both_backends
def test_writes_and_reads_go_on_during_a_rebuild(
    app: LedgerApp, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between two pages of a rebuild, another process's write path commits a boot's events
    at once (nothing holds the write lock) and a reader sees the old tables whole; the
    switch then folds in what was written meanwhile: the result is a from-scratch fold."""
    write_varied_ledger(app, seed=100)
    store = ProjectionStore(app)
    store.catch_up()
    before = store.dump()
    writer = ledger_app(resolve_location(ledger.arg), KeyStore(ledger.keys_dir), create=False)
    seen: dict[str, Any] = {}

    def during_the_rebuild() -> None:
        reader = ProjectionStore(writer)
        seen["read"] = reader.dump()  # the live tables, caught up, untouched
        reader.close()
        write_varied_ledger(writer, seed=101, boots=2)  # a boot's worth of events
        seen["written"] = True

    original: Callable[..., int] = rebuild_module.ShadowRebuild._fold_page
    pages = 0

    def fold_page(self: Any) -> int:
        nonlocal pages
        pages += 1
        if pages == 2:
            worker = threading.Thread(target=during_the_rebuild)
            worker.start()
            worker.join(timeout=20)
            assert not worker.is_alive(), "the write path was blocked by the rebuild"
        return original(self)

    monkeypatch.setattr(rebuild_module.ShadowRebuild, "_fold_page", fold_page)
    store.rebuild(page=10)
    assert seen["read"] == before and seen["written"]
    assert store.position() == writer.recorder.max_notification_id()
    assert store.dump() == _reference(app, batch=5000)
    writer.close()
    store.close()


def test_on_sqlite_no_rebuild_statement_works_through_a_whole_table(
    app: LedgerApp, ledger: Ledger, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has one write lock for the whole file: a boot's write waits for whatever a
    rebuild's transaction does. So the shadow indexes are made while their tables are empty
    and kept up page by page, and the old tables are emptied a page at a time before they
    are dropped: no statement of the rebuild goes over a whole table of rows."""
    write_varied_ledger(app, seed=7, boots=8)
    store = ProjectionStore(app)
    store.catch_up()
    assert isinstance(store.db, SQLiteDatabase)
    rows_under: list[tuple[str, int]] = []
    execute = store.db.execute

    def watched(sql: str, params: Any = ()) -> None:
        words = sql.split()
        table = None
        if words[:2] == ["CREATE", "INDEX"]:
            table = words[words.index("ON") + 1]
        elif words[:2] == ["DROP", "TABLE"]:
            table = words[-1]
        if table is not None and store.db.query(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ):
            rows_under.append((words[0], store.db.query(f"SELECT COUNT(*) FROM {table}")[0][0]))
        execute(sql, params)

    monkeypatch.setattr(store.db, "execute", watched)
    store.rebuild(page=10)
    assert {kind for kind, _ in rows_under} == {"CREATE", "DROP"}
    assert [count for _, count in rows_under] == [0] * len(rows_under)
    monkeypatch.undo()
    assert store.dump() == _reference(app, batch=5000)
    store.close()
