"""Exactly once when things die: the collector killed (-9) mid-upload, its PostgreSQL
connection terminated mid-upload, and two ships of one host racing. The upload is held
mid-transaction (events inserted, not committed) by a lock the test takes on a table the
collector writes last, so the crash lands exactly there, without any timing."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from recovery_ledger.infra.errors import CollectorUnreachableError
from recovery_ledger.infra.fleet.client import CollectorClient
from recovery_ledger.infra.fleet.shipper import ShipResult, ship

from ..conftest import PG_DSN_BASE
from .collector_process import (
    CollectorLedger,
    collector_ledger,
    running_collector,
)
from .simulated_host import SimulatedHost

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WAIT_S = 30  # an upper bound for a condition to come true, never a timing under test


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[CollectorLedger]:
    with collector_ledger(tmp_path) as ledger:
        ledger.enroll("A" * 43, "placeholder")
        yield ledger


@pytest.fixture
def host(ledger: CollectorLedger) -> SimulatedHost:
    host = SimulatedHost("desk", loops=20)  # 40 events
    ledger.enroll_quickly(host.thumbprint, host.name)
    return host


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


class HeldUpload:
    """Ship in a thread while the test holds fleet_heads locked: the collector's
    transaction has inserted the events and waits, uncommitted, on that lock."""

    def __init__(self, ledger: CollectorLedger, host: SimulatedHost, url: str) -> None:
        self.ledger = ledger
        self.lock = psycopg.connect(PG_DSN_BASE)
        self.lock.execute(f'LOCK TABLE "{ledger.schema}".fleet_heads IN ACCESS EXCLUSIVE MODE')
        self.outcome: list[Any] = []
        self.thread = threading.Thread(target=self._ship, args=(host, url), daemon=True)
        self.thread.start()
        try:
            wait_for(lambda: self.waiting_backend() is not None, "the upload to wait on the lock")
        except BaseException:
            self.release()
            raise

    def _ship(self, host: SimulatedHost, url: str) -> None:
        try:
            self.outcome.append(ship(host, CollectorClient(url, host.key, WAIT_S), 1000))
        except Exception as error:
            self.outcome.append(error)

    def waiting_backend(self) -> int | None:
        rows = self.ledger.query(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            f'%"{self.ledger.schema}".fleet_heads%',
        )
        return int(rows[0][0]) if rows else None

    def release(self) -> Any:
        self.lock.rollback()
        self.lock.close()
        self.thread.join(WAIT_S)
        return self.outcome[0] if self.outcome else None


def backend_gone(ledger: CollectorLedger, pid: int) -> bool:
    return not ledger.query("SELECT 1 FROM pg_stat_activity WHERE pid = %s", pid)


def stored_once(ledger: CollectorLedger, host: SimulatedHost) -> None:
    assert ledger.acked(host.name) == host.total()
    rows = ledger.query(
        "SELECT COUNT(*), COUNT(DISTINCT seq), MIN(seq), MAX(seq) FROM fleet_events "
        "JOIN fleet_installations USING (installation) WHERE host_name = %s",
        host.name,
    )
    assert rows == [(host.total(), host.total(), 1, host.total())]
    assert ledger.stored_events() == host.total()


def test_a_collector_killed_mid_upload_stores_nothing_and_the_next_ship_resumes(
    ledger: CollectorLedger, host: SimulatedHost
) -> None:
    with running_collector(ledger) as collector:
        held = HeldUpload(ledger, host, collector.url)
        try:
            backend = held.waiting_backend()
            assert backend is not None
            events_locked = ledger.query(
                "SELECT COUNT(*) FROM pg_locks WHERE pid = %s AND relation = %s::regclass "
                "AND mode = 'ExclusiveLock' AND granted",
                backend,
                f'"{ledger.schema}".recoveryledger_events',
            )
            collector.kill()
        finally:
            outcome = held.release()
    assert events_locked == [(1,)]  # the events were in, uncommitted, when it died
    assert isinstance(outcome, CollectorUnreachableError)
    wait_for(lambda: backend_gone(ledger, backend), "the dead collector's transaction to end")
    assert ledger.stored_events() == 0 and ledger.acked(host.name) == 0
    with running_collector(ledger) as collector:
        result = ship(host, CollectorClient(collector.url, host.key, WAIT_S), 1000)
        assert result == ShipResult(host.total(), host.total())
        assert ship(host, CollectorClient(collector.url, host.key, WAIT_S), 1000).shipped == 0
    stored_once(ledger, host)


def test_a_database_connection_dropped_mid_upload_stores_nothing_and_the_next_ship_resumes(
    ledger: CollectorLedger, host: SimulatedHost
) -> None:
    with running_collector(ledger) as collector:
        held = HeldUpload(ledger, host, collector.url)
        try:
            backend = held.waiting_backend()
            ledger.query("SELECT pg_terminate_backend(%s)", backend)
        finally:
            outcome = held.release()
        assert isinstance(outcome, CollectorUnreachableError), outcome
        assert "HTTP 503" in str(outcome)
        assert ledger.stored_events() == 0 and ledger.acked(host.name) == 0
        result = ship(host, CollectorClient(collector.url, host.key, WAIT_S), 1000)
        assert result.shipped == host.total()
        assert collector.stop() == 0
    stored_once(ledger, host)


def test_two_ships_of_one_host_racing_store_every_event_once(
    ledger: CollectorLedger, host: SimulatedHost
) -> None:
    with running_collector(ledger) as collector:
        results: list[ShipResult] = []

        def one_ship() -> None:
            results.append(ship(host, CollectorClient(collector.url, host.key, WAIT_S), 4))

        threads = [threading.Thread(target=one_ship) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_S)
    assert len(results) == 4
    assert sum(r.shipped for r in results) == host.total()
    assert {r.position for r in results} == {host.total()}
    stored_once(ledger, host)
