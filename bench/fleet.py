"""Fleet benchmarks, each against a baseline measured in the same run.

1. Events stored per second by one collector process (HTTP, request signatures, chain and
   signature checks, the collector's own chain and signed head, concurrent uploads grouped
   into one transaction), against raw psycopg inserts of the very same rows in one
   transaction per upload (so the baseline does not group its commits): each
   event into a table defined as the ledger's events table, and its ``(installation, seq)``
   row into a table defined as ``fleet_events`` (what holding an event exactly once takes,
   with none of the checks). The events-only figure is printed too. Goal: at least 0.5x.
   Rounds alternate baseline and collector; the ratio reported is the median of the rounds'.
   Measured two ways: the collector alone (every host's uploads made and signed before the
   clock starts, as the baseline's rows are, then sent over keep-alive connections, each
   host's in order: the collector's work), and end to end (every host running ``ship`` at
   once, its client work on the same two cores as the collector).
2. Uploads per second one collector process sustains: many installations, small uploads.

    python bench/fleet.py [--hosts 100] [--loops 100] [--batch 200] [--rounds 3]
                          [--small-hosts 100]

Needs the PostgreSQL server (RECOVERY_LEDGER_TEST_PG or 127.0.0.1:5432/test) and the
[collector] extra. Each measurement uses fresh schemas and drops them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO.parent))

from recovery_ledger.infra.fleet.client import CollectorClient  # noqa: E402
from recovery_ledger.infra.fleet.shipper import ship  # noqa: E402
from recovery_ledger.tests.fleet.collector_process import (  # noqa: E402
    CollectorLedger,
    RunningCollector,
)
from recovery_ledger.tests.fleet.simulated_host import SimulatedHost  # noqa: E402

DSN = os.environ.get("RECOVERY_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
EVENTS_PER_CHECKPOINT = 20

# As the ledger's events table (eventsourcing's) and the collector's fleet_events are defined.
_BASELINE_TABLES = (
    "CREATE TABLE {s}.events (originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
    "topic text, state bytea, notification_id bigserial, "
    "PRIMARY KEY (originator_id, originator_version))",
    "CREATE UNIQUE INDEX ON {s}.events (notification_id)",
    "CREATE TABLE {s}.fleet_events (installation bigint NOT NULL, seq bigint NOT NULL, "
    "source_position bigint NOT NULL, notification_id bigint NOT NULL UNIQUE, "
    "source_link bytea NOT NULL, PRIMARY KEY (installation, seq))",
)


@contextmanager
def _scratch_schema() -> Iterator[tuple[Any, str]]:
    import psycopg

    schema = f"b_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        try:
            for statement in _BASELINE_TABLES:
                conn.execute(statement.format(s=schema))
            yield conn, schema
        finally:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


def raw_inserts(hosts: list[SimulatedHost], batch: int, with_fleet_rows: bool) -> float:
    """Seconds to insert every host's events with plain psycopg ``executemany``, ``batch``
    events a transaction, and (``with_fleet_rows``) their fleet_events rows beside them."""
    with _scratch_schema() as (conn, schema):
        insert_event = (
            f"INSERT INTO {schema}.events (originator_id, originator_version, topic, state) "  # noqa: S608
            "VALUES (%s, %s, %s, %s) RETURNING notification_id"
        )
        insert_fleet = (
            f"INSERT INTO {schema}.fleet_events (installation, seq, source_position, "  # noqa: S608
            "notification_id, source_link) VALUES (%s, %s, %s, %s, %s)"
        )
        started = time.perf_counter()
        for number, host in enumerate(hosts, 1):
            for first in range(0, host.total(), batch):
                shipped = host.shipped[first : first + batch]
                with conn.transaction(), conn.cursor() as curs:
                    curs.executemany(
                        insert_event,
                        [
                            (
                                e.stored.originator_id,
                                e.stored.originator_version,
                                e.stored.topic,
                                e.stored.state,
                            )
                            for e in shipped
                        ],
                        returning=with_fleet_rows,
                    )
                    if not with_fleet_rows:
                        continue
                    ids = []
                    while True:
                        ids.append(curs.fetchone()[0])
                        if not curs.nextset():
                            break
                    curs.executemany(
                        insert_fleet,
                        [
                            (number, first + i + 1, e.position, ids[i], host.links[first + i])
                            for i, e in enumerate(shipped)
                        ],
                    )
        return time.perf_counter() - started


@contextmanager
def _collector_for(hosts: list[SimulatedHost], tmp: Path) -> Iterator[tuple[Any, Any]]:
    """A collector on a fresh schema with every host enrolled; the schema dropped after."""
    import psycopg

    schema = f"b_{uuid.uuid4().hex[:12]}"
    ledger = CollectorLedger(schema, tmp / schema)
    ledger.enroll("A" * 43, "placeholder")
    for host in hosts:
        ledger.enroll_quickly(host.thumbprint, host.name)
    collector = RunningCollector(ledger)
    try:
        yield ledger, collector
    finally:
        collector.stop()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{ledger.schema}" CASCADE')


def shipped_through_collector(
    hosts: list[SimulatedHost], batch: int, tmp: Path
) -> tuple[float, int]:
    """Seconds for every host to ship to one collector at once, and the uploads it took."""
    with _collector_for(hosts, tmp) as (ledger, collector):
        before = ledger.query("SELECT COUNT(*) FROM fleet_heads")[0][0]
        barrier = threading.Barrier(len(hosts) + 1)

        def one(host: SimulatedHost) -> None:
            client = CollectorClient(collector.url, host.key, 600)
            barrier.wait()
            ship(host, client, batch)
            client.close()

        threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
        for thread in threads:
            thread.start()
        barrier.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        uploads = ledger.query("SELECT COUNT(*) FROM fleet_heads")[0][0] - before
        assert ledger.stored_events() == sum(h.total() for h in hosts)
    return elapsed, int(uploads)


def prepared_uploads(host: SimulatedHost, initial: Any, batch: int) -> list[tuple[bytes, str]]:
    """Every upload ``ship`` makes for ``host`` from ``initial`` on (the collector's answers
    worked out, not asked), each with its signed Authorization header."""
    import orjson

    from recovery_ledger.infra.fleet.client import UPLOADS_PATH
    from recovery_ledger.infra.fleet.protocol import Acknowledgement
    from recovery_ledger.infra.fleet.request_auth import sign_request

    uploads = []

    class Recorder:
        def position(self) -> Any:
            return initial

        def upload(self, upload: Any) -> Any:
            body = orjson.dumps(upload.to_json())
            uploads.append((body, sign_request(host.key, "POST", UPLOADS_PATH, body)))
            end = upload.head
            return Acknowledgement(end.event_count, end.position, end.head, len(upload.events))

    ship(host, Recorder(), batch)
    return uploads


def collector_alone(hosts: list[SimulatedHost], batch: int, tmp: Path) -> float:
    """Seconds the collector takes to store every host's uploads, made beforehand."""
    import asyncio

    from recovery_ledger.infra.cloud.http11 import Http11Pool, Request
    from recovery_ledger.infra.fleet.client import UPLOADS_PATH

    with _collector_for(hosts, tmp) as (ledger, collector):
        plans = []
        for host in hosts:
            client = CollectorClient(collector.url, host.key, 600)
            plans.append(prepared_uploads(host, client.position(), batch))
            client.close()

        async def send_all() -> float:
            pool = Http11Pool(
                collector.url, tls=None, connect_timeout=10, max_connections=len(hosts),
                max_body_bytes=1 << 16,
            )  # fmt: skip

            async def one_host(plan: list[tuple[bytes, str]]) -> None:
                for body, authorization in plan:
                    headers = (
                        ("Authorization", authorization),
                        ("Content-Type", "application/json"),
                    )
                    answer = await pool.send(
                        Request("POST", collector.url + UPLOADS_PATH, headers, body)
                    )
                    assert answer.status == 200, answer

            started = time.perf_counter()
            await asyncio.gather(*(one_host(plan) for plan in plans))
            elapsed = time.perf_counter() - started
            await pool.aclose()
            return elapsed

        elapsed = asyncio.run(send_all())
        assert ledger.stored_events() == sum(h.total() for h in hosts)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--loops", type=int, default=100, help="per host; two events each")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small-hosts", type=int, default=100)
    args = parser.parse_args()
    if args.loops % (EVENTS_PER_CHECKPOINT // 2):
        # ship sends up to a signed head: events after the last one would never be stored.
        parser.error(f"--loops must be a multiple of {EVENTS_PER_CHECKPOINT // 2}: a host's "
                     f"events (two a loop) are signed every {EVENTS_PER_CHECKPOINT}")  # fmt: skip
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    ratios, ratios_events_only, ratios_end_to_end = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for round_number in range(1, args.rounds + 1):
            hosts = [
                SimulatedHost(f"b{i}", args.loops, events_per_checkpoint=EVENTS_PER_CHECKPOINT)
                for i in range(args.hosts)
            ]
            events = sum(h.total() for h in hosts)
            raw = raw_inserts(hosts, args.batch, with_fleet_rows=True)
            events_only = raw_inserts(hosts, args.batch, with_fleet_rows=False)
            alone = collector_alone(hosts, args.batch, Path(tmp))
            fleet, uploads = shipped_through_collector(hosts, args.batch, Path(tmp))
            ratios.append(raw / alone)
            ratios_events_only.append(events_only / alone)
            ratios_end_to_end.append(raw / fleet)
            print(
                f"round {round_number}: {events} events from {args.hosts} hosts in {uploads} "
                f"uploads of {args.batch}: raw (events + fleet_events) {events / raw:.0f} ev/s, "
                f"raw (events only) {events / events_only:.0f} ev/s; collector alone "
                f"{events / alone:.0f} ev/s: {raw / alone:.2f}x ({events_only / alone:.2f}x of "
                f"events only); end to end with the ships {events / fleet:.0f} ev/s: "
                f"{raw / fleet:.2f}x"
            )
        print(
            f"median ratio, collector alone / raw: {statistics.median(ratios):.2f}x (events "
            f"only: {statistics.median(ratios_events_only):.2f}x; goal >= 0.5x); end to end "
            f"{statistics.median(ratios_end_to_end):.2f}x"
        )
        small = [
            SimulatedHost(f"s{i}", 10, events_per_checkpoint=2) for i in range(args.small_hosts)
        ]
        elapsed, uploads = shipped_through_collector(small, 2, Path(tmp))
        print(
            f"small uploads (2 events): {uploads / elapsed:.0f} uploads/s sustained "
            f"({uploads} uploads from {args.small_hosts} hosts at once)"
        )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
