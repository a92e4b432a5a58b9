"""Load: 200 simulated installations, a few hundred events each, shipping at once to one
real collector over loopback. Every event is stored exactly once, every installation's
history is acknowledged whole, and a second round ships nothing. Bounded: one deadline for
a whole round (every ship's client gives up by then, and the test stops waiting then), so a
hang fails the test instead of stalling the run; how fast it goes is bench/fleet.py's
business, never asserted here."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from recovery_ledger.infra.fleet.client import CollectorClient
from recovery_ledger.infra.fleet.shipper import ShipResult, ship

from .collector_process import collector_ledger, running_collector
from .simulated_host import SimulatedHost

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.load]

HOSTS = 200
LOOPS_PER_HOST = 100  # two events each: 200 events per installation, 40,000 in all
BATCH = 200
ROUND_DEADLINE_S = 120.0


def ship_all(url: str, hosts: list[SimulatedHost]) -> dict[str, ShipResult | Exception]:
    results: dict[str, ShipResult | Exception] = {}
    start = threading.Barrier(len(hosts))
    deadline = time.monotonic() + ROUND_DEADLINE_S

    def one(host: SimulatedHost) -> None:
        start.wait()
        client = CollectorClient(url, host.key, max(deadline - time.monotonic(), 1.0))
        try:
            results[host.name] = ship(host, client, BATCH)
        except Exception as error:
            results[host.name] = error
        finally:
            client.close()

    threads = [threading.Thread(target=one, args=(host,), daemon=True) for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    unfinished = [h.name for h, t in zip(hosts, threads, strict=True) if t.is_alive()]
    assert not unfinished, f"{len(unfinished)} ships did not end by the round's deadline"
    return results


def test_200_installations_shipping_at_once_store_every_event_exactly_once(tmp_path: Path) -> None:
    hosts = [
        SimulatedHost(f"desk-{i:03d}", LOOPS_PER_HOST, events_per_checkpoint=20)
        for i in range(HOSTS)
    ]
    with collector_ledger(tmp_path) as ledger:
        ledger.enroll("A" * 43, "placeholder")
        for host in hosts:
            ledger.enroll_quickly(host.thumbprint, host.name)
        with running_collector(ledger) as collector:
            first = ship_all(collector.url, hosts)
            second = ship_all(collector.url, hosts)
            assert collector.stop() == 0
        per_host = 2 * LOOPS_PER_HOST
        assert first == {h.name: ShipResult(per_host, per_host) for h in hosts}
        assert second == {h.name: ShipResult(0, per_host) for h in hosts}
        assert ledger.stored_events() == HOSTS * per_host
        assert ledger.query(
            "SELECT COUNT(*), COUNT(DISTINCT (installation, seq)), COUNT(DISTINCT notification_id) "
            "FROM fleet_events"
        ) == [(HOSTS * per_host,) * 3]
        assert ledger.query(
            "SELECT COUNT(*) FROM fleet_installations WHERE acked_count = %s", per_host
        ) == [(HOSTS,)]
