"""Fleet benchmarks, each against a baseline measured in the same run.

1. Events stored per second by one collector process (HTTP, request signatures, chain and
   signature checks, the collector's own head, one transaction per upload), against raw
   psycopg inserts of the very same rows (originator, version, topic, state) into a bare
   table, in transactions of the same size. Goal: at least 0.5x.
2. Uploads per second one collector process sustains: many installations, small uploads.

    python bench/fleet.py [--hosts 50] [--loops 100] [--batch 200] [--small-hosts 100]

Needs the PostgreSQL server (RECOVERY_LEDGER_TEST_PG or 127.0.0.1:5432/test) and the
[collector] extra. Each run uses fresh schemas and drops them.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

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


def raw_inserts(hosts: list[SimulatedHost], batch: int) -> float:
    """Seconds to insert every host's events with plain psycopg, `batch` rows a transaction."""
    import psycopg

    schema = f"b_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(
            f"CREATE TABLE {schema}.events (notification_id bigserial PRIMARY KEY, "
            "originator_id uuid NOT NULL, originator_version bigint NOT NULL, "
            "topic text NOT NULL, state bytea NOT NULL, "
            "UNIQUE (originator_id, originator_version))"
        )
        started = time.perf_counter()
        for host in hosts:
            for i in range(0, host.total(), batch):
                rows = [
                    (
                        e.stored.originator_id,
                        e.stored.originator_version,
                        e.stored.topic,
                        e.stored.state,
                    )
                    for e in host.shipped[i : i + batch]
                ]
                with conn.transaction(), conn.cursor() as curs:
                    insert = (
                        f"INSERT INTO {schema}.events (originator_id, originator_version, "  # noqa: S608
                        "topic, state) VALUES (%s, %s, %s, %s)"
                    )
                    curs.executemany(
                        insert,
                        rows,
                    )
        elapsed = time.perf_counter() - started
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
    return elapsed


def shipped_through_collector(
    hosts: list[SimulatedHost], batch: int, tmp: Path
) -> tuple[float, int]:
    """Seconds for every host to ship to one collector at once, and the uploads it took."""
    schema = f"b_{uuid.uuid4().hex[:12]}"
    ledger = CollectorLedger(schema, tmp / schema)
    ledger.enroll("A" * 43, "placeholder")
    for host in hosts:
        ledger.enroll_quickly(host.thumbprint, host.name)
    collector = RunningCollector(ledger)
    try:
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
    finally:
        collector.stop()
        import psycopg

        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{ledger.schema}" CASCADE')
    return elapsed, int(uploads)


def main() -> None:
    import tempfile

    parser = argparse.ArgumentParser()
    parser.add_argument("--hosts", type=int, default=50)
    parser.add_argument("--loops", type=int, default=100, help="per host; two events each")
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--small-hosts", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        hosts = [
            SimulatedHost(f"b{i}", args.loops, events_per_checkpoint=20) for i in range(args.hosts)
        ]
        events = sum(h.total() for h in hosts)
        raw = raw_inserts(hosts, args.batch)
        fleet, uploads = shipped_through_collector(hosts, args.batch, Path(tmp))
        print(f"events: {events} from {args.hosts} hosts, batches of {args.batch}")
        print(f"raw psycopg inserts:  {events / raw:9.0f} events/s")
        print(f"through the collector: {events / fleet:9.0f} events/s ({uploads} uploads)")
        print(f"ratio collector/raw:   {raw / fleet:9.2f}x  (goal >= 0.5x)")
        small = [
            SimulatedHost(f"s{i}", 10, events_per_checkpoint=2) for i in range(args.small_hosts)
        ]
        elapsed, uploads = shipped_through_collector(small, 2, Path(tmp))
        print(
            f"small uploads (2 events): {uploads / elapsed:7.0f} uploads/s sustained "
            f"({uploads} uploads from {args.small_hosts} hosts at once)"
        )


if __name__ == "__main__":
    main()
