"""Group commit: uploads that wait for the events table together are stored together, in
one transaction, and an upload refused among them (by the checks under the row lock, or by
the database as a conflict) leaves the others stored. The grouping is made certain, not
hoped for: the test holds ``fleet_heads`` locked, so a first upload waits on it inside its
transaction and a second waits for the events table behind it (two groups in flight);
the uploads sent then queue, and are released together once the metrics say so."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from recovery_ledger.infra.errors import UploadRefusedError
from recovery_ledger.infra.fleet.client import CollectorClient
from recovery_ledger.infra.fleet.protocol import Upload
from recovery_ledger.infra.fleet.shipper import ship

from ..conftest import PG_DSN_BASE, run_cli
from .collector_process import (
    CollectorLedger,
    Fleet,
    serving_collector,
)
from .simulated_host import SimulatedHost
from .test_collector_crashes import WAIT_S, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[Fleet]:
    with serving_collector(tmp_path) as fleet:
        yield fleet


def enrolled(ledger: CollectorLedger, name: str, loops: int = 2) -> SimulatedHost:
    host = SimulatedHost(name, loops)
    ledger.enroll_quickly(host.thumbprint, host.name)
    return host


def metric(fleet: Fleet, name: str) -> float:
    text = httpx.get(fleet[1].url + "/metrics").text
    return float(next(row for row in text.splitlines() if row.startswith(name + " ")).split()[1])


def shipping(fleet: Fleet, host: SimulatedHost) -> Callable[[], Any]:
    return lambda: ship(host, CollectorClient(fleet[1].url, host.key, WAIT_S), 1000)


def uploading(fleet: Fleet, host: SimulatedHost, upload: Upload) -> Callable[[], Any]:
    return lambda: CollectorClient(fleet[1].url, host.key, WAIT_S).upload(upload)


def lock_waits(ledger: CollectorLedger) -> int:
    rows = ledger.query(
        "SELECT COUNT(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
        f'%"{ledger.schema}"%',
    )
    return int(rows[0][0])


def sent_together(
    fleet: Fleet, first: Callable[[], Any], second: Callable[[], Any], rest: list[Callable[[], Any]]
) -> list[Any]:
    """``first`` and ``second`` stored alone, each in its own group, held at their locks;
    ``rest`` queued behind them, then all released. The outcomes, in order."""
    ledger = fleet[0]
    outcomes: list[Any] = [None] * (2 + len(rest))

    def run(i: int, work: Callable[[], Any]) -> None:
        try:
            outcomes[i] = work()
        except Exception as error:
            outcomes[i] = error

    threads: list[threading.Thread] = []

    def start(i: int, work: Callable[[], Any]) -> None:
        threads.append(threading.Thread(target=run, args=(i, work), daemon=True))
        threads[-1].start()

    lock = psycopg.connect(PG_DSN_BASE)
    try:
        lock.execute(f'LOCK TABLE "{ledger.schema}".fleet_heads IN ACCESS EXCLUSIVE MODE')
        start(0, first)
        wait_for(lambda: lock_waits(ledger) == 1, "the first group to wait on fleet_heads")
        start(1, second)
        wait_for(lambda: lock_waits(ledger) == 2, "the second group to wait for the events")
        for i, work in enumerate(rest, start=2):
            start(i, work)
        wait_for(
            lambda: metric(fleet, "recovery_ledger_collector_uploads_waiting") == len(rest),
            "the other uploads to queue for the next group",
        )
    finally:
        lock.rollback()
        lock.close()
    for thread in threads:
        thread.join(WAIT_S)
    return outcomes


def stored_events_of(ledger: CollectorLedger, host: SimulatedHost) -> list[tuple[Any, ...]]:
    return ledger.query(
        "SELECT COUNT(*), COUNT(DISTINCT seq), MAX(seq) FROM fleet_events "
        "JOIN fleet_installations USING (installation) WHERE host_name = %s",
        host.name,
    )


def test_uploads_queued_together_are_stored_in_one_transaction_and_a_refused_one_alone_is_left_out(
    fleet: Fleet,
) -> None:
    ledger = fleet[0]
    hosts = [enrolled(ledger, f"desk-{i}") for i in range(8)]
    behind = enrolled(ledger, "behind", loops=4)  # 8 events, a head every 2
    head = next(c for c in behind.checkpoints if c.event_count == 6)
    gap = Upload(4, behind.links[3], tuple(behind.shipped[4:6]), head, False, behind.total())
    collector_heads = ledger.query("SELECT COUNT(*) FROM ledger_checkpoints")[0][0]

    outcomes = sent_together(
        fleet,
        shipping(fleet, hosts[0]),
        shipping(fleet, hosts[1]),
        [shipping(fleet, host) for host in hosts[2:]] + [uploading(fleet, behind, gap)],
    )

    assert [o.shipped for o in outcomes[:8]] == [host.total() for host in hosts], outcomes
    assert isinstance(outcomes[8], UploadRefusedError) and "(gap)" in str(outcomes[8])
    # Ten uploads, three transactions: the two held ones, then the eight queued behind them.
    assert metric(fleet, "recovery_ledger_collector_transactions_total") == 3
    assert metric(fleet, 'recovery_ledger_collector_uploads_total{result="stored"}') == 8
    # One signed head of the collector's own per transaction, each installation's own heads.
    assert ledger.query("SELECT COUNT(*) FROM ledger_checkpoints")[0][0] == collector_heads + 3
    for host in hosts:
        assert stored_events_of(ledger, host) == [(host.total(), host.total(), host.total())]
        assert ledger.acked(host.name) == host.total()
    assert ledger.stored_events() == sum(host.total() for host in hosts)
    # The refused upload left nothing in the group's transaction, not even its request id.
    assert stored_events_of(ledger, behind) == [(0, 0, None)] and ledger.acked(behind.name) == 0
    assert ledger.query(
        "SELECT COUNT(*) FROM fleet_nonces JOIN fleet_installations USING (installation) "
        "WHERE host_name = 'behind'"
    ) == [(0,)]
    assert ship(behind, CollectorClient(fleet[1].url, behind.key, WAIT_S), 1000).shipped == 8
    verified = run_cli("verify", env=ledger.env())
    assert verified.code == 0, verified.stderr


def test_an_upload_conflicting_in_a_group_is_refused_alone_and_the_others_are_stored(
    fleet: Fleet,
) -> None:
    ledger = fleet[0]
    hosts = [enrolled(ledger, f"desk-{i}") for i in range(4)]
    copycat = enrolled(ledger, "copycat", loops=0)
    copycat.add_loop(f"{hosts[0].name}-loop-0")  # the same loop, stored by desk-0 first

    outcomes = sent_together(
        fleet,
        shipping(fleet, hosts[0]),
        shipping(fleet, hosts[1]),
        [shipping(fleet, hosts[2]), shipping(fleet, copycat), shipping(fleet, hosts[3])],
    )

    assert [outcomes[i].shipped for i in (0, 1, 2, 4)] == [h.total() for h in hosts], outcomes
    assert isinstance(outcomes[3], UploadRefusedError) and "(conflict)" in str(outcomes[3])
    for host in hosts:
        assert stored_events_of(ledger, host) == [(host.total(), host.total(), host.total())]
    assert ledger.acked(copycat.name) == 0
    assert ledger.stored_events() == sum(host.total() for host in hosts)
    verified = run_cli("verify", env=ledger.env())
    assert verified.code == 0, verified.stderr
