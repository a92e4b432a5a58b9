"""The write path: one boot's events for N loops saved through the ledger (aggregates,
orjson, the hash chain, the signed head, the open-loop index, one transaction), against raw
sqlite3 inserting the very same rows with one executemany in one transaction, same run.

    python bench/write_path.py [--loops 1000] [--repeat 7]

No number from here goes into a test.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

sys.path.insert(0, str(Path(__file__).resolve().parent))

import read_side


def one_boot(app: Any, loops: list[Any]) -> list[Any]:
    """A boot's pending events on every loop (all alive, the cloud says active)."""
    from recovery_ledger.domain.boot import Boot
    from recovery_ledger.domain.observations import LivenessObservation, StatusAnswer

    boot_id = uuid4()
    boot = Boot(
        boot_id=boot_id,
        policy="v3-pop-guarded",
        host_id="bench",
        host_name="bench",
        app_version="bench",
        cloud_url="https://cloud.example",
        loop_ids=[loop.loop_id for loop in loops],
    )
    for loop in loops:
        loop.observe_runner(boot_id, LivenessObservation(True, "running", 1.0))
        loop.observe_cloud(boot_id, 1, StatusAnswer(200, "active"))
        loop.classify(
            boot_id,
            "v3-pop-guarded",
            "alive_active",
            pop_available=True,
            pop_reason="available",
            post_heartbeat=False,
        )
        loop.reattach(boot_id, "alive")
    boot.complete({"examined": len(loops)})
    return [boot, *loops]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.sqlite"
        app = read_side._open(ledger, create=True)
        loops = [
            app.register_loop(
                loop_id=f"loop-{i}",
                provenance="desktop_managed",
                pid=1,
                pid_start_time=1.0,
                host_id="bench",
                token=read_side.BENCH_TOKEN,
            )
            for i in range(args.loops)
        ]
        raw = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        ours, theirs, events = [], [], 0
        for _ in range(args.repeat):
            pending = [e for a in one_boot(app, loops) for e in a.collect_events()]
            started = time.perf_counter()
            app.save(*pending)  # encode, insert, chain, signed head, index: one transaction
            ours.append(time.perf_counter() - started)
            rows = [app.mapper.to_stored_event(e) for e in pending]
            started = time.perf_counter()
            raw.execute("BEGIN")
            raw.executemany(
                "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                [(r.originator_id.hex, r.originator_version, r.topic, r.state) for r in rows],
            )
            raw.execute("COMMIT")
            theirs.append(time.perf_counter() - started)
            events = len(rows)
        app.close()
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"a boot's {events} events for {args.loops} loops (median of {args.repeat})")
    print(
        f"  ledger write path {o * 1000:.1f} ms; raw executemany {t * 1000:.1f} ms; "
        f"throughput ratio {t / o:.2f}x of raw"
    )


if __name__ == "__main__":
    main()
