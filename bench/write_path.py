"""The write path: one boot's events for N loops saved through the ledger as the boot saves
them (``save_boot_progress`` of the aggregates: encoding, the hash chain, the signed head,
the open-loop index, one transaction), against raw sqlite3 inserting the very same rows
(same columns, same bytes, already encoded) with one executemany in one transaction, same
run.

Wall time includes the commits' fsyncs, which a busy disk makes slow for both sides alike;
CPU time (this process's user + system) shows the work without the waits. Both are printed.

Two ratios: the whole write, and the same write with the signed head's Ed25519 signature
and witness file (written and fsynced after the commit) left out, to show what the head
costs per transaction. Every transaction of the ledger pays for the head; the raw baseline
never does. A third line is the storage format's floor: raw sqlite3 inserting the same rows
and their chain rows (links computed before the clock starts) in one transaction, what
the write would cost if encoding and hashing were free.

    python bench/write_path.py [--loops 1000] [--repeat 15]

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

sys.path.insert(0, str(Path(__file__).resolve().parent))

import read_side

from recovery_ledger.infra.store.chain import GENESIS, extend
from recovery_ledger.tests.boot_history import quiet_boot, register_loops


def one_boot(loops: list[Any]) -> list[Any]:
    """A boot's pending events on every loop (all alive, the cloud says active)."""
    return [quiet_boot(loops, host_id="bench"), *loops]


class UnsignedHeads:
    """A head signer that signs nothing and writes no witness: the write without the head."""

    def sign_head(self, position: int, event_count: int, head: bytes) -> Any:
        from recovery_ledger.infra.store.heads import Checkpoint

        return Checkpoint(position, event_count, head, "", "none", b"")

    def committed(self, checkpoint: Any) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Path(tmp) / "ledger.sqlite"
        app = read_side._open(ledger, create=True)
        signer = app.recorder.head_signer
        loops = register_loops(app, args.loops, host_id="bench")
        raw = sqlite3.connect(Path(tmp) / "raw.sqlite", isolation_level=None)
        raw.execute("PRAGMA journal_mode=WAL")
        raw.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        floor = sqlite3.connect(Path(tmp) / "floor.sqlite", isolation_level=None)
        floor.execute("PRAGMA journal_mode=WAL")
        floor.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        floor.execute("CREATE TABLE ledger_chain (notification_id INTEGER PRIMARY KEY, "
                      "chain_hash BLOB NOT NULL)")  # fmt: skip
        head, position = GENESIS, 0
        floors: list[tuple[float, float]] = []
        ours: list[tuple[float, float]] = []
        unsigned: list[tuple[float, float]] = []
        theirs: list[tuple[float, float]] = []
        events = 0
        for i in range(2 * args.repeat):  # signed and unsigned writes alternate
            aggregates = one_boot(loops)
            pending = [e for a in aggregates for e in a.pending_events]  # rows for the raw side
            app.recorder.head_signer = signer if i % 2 == 0 else UnsignedHeads()
            started = _clocks()
            app.save_boot_progress(*aggregates)  # encode, insert, chain, head, index: one txn
            (ours if i % 2 == 0 else unsigned).append(_since(started))
            rows = [app.mapper.to_stored_event(e) for e in pending]
            started = _clocks()
            raw.execute("BEGIN")
            raw.executemany(
                "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                [(r.originator_id.hex, r.originator_version, r.topic, r.state) for r in rows],
            )
            raw.execute("COMMIT")
            theirs.append(_since(started))
            links = extend(head, range(position + 1, position + 1 + len(rows)), rows)
            position, head = links[-1]
            started = _clocks()
            floor.execute("BEGIN")
            floor.executemany(
                "INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                [(r.originator_id.hex, r.originator_version, r.topic, r.state) for r in rows],
            )
            floor.executemany("INSERT INTO ledger_chain VALUES (?, ?)", links)
            floor.execute("COMMIT")
            floors.append(_since(started))
            events = len(rows)
        app.close()
    print(f"a boot's {events} events for {args.loops} loops (median of {args.repeat} each)")
    for clock, name in ((0, "wall"), (1, "CPU")):
        o, u, t, f = (
            statistics.median(x[clock] for x in s) for s in (ours, unsigned, theirs, floors)
        )
        print(f"  {name:4} raw executemany, one transaction   {t * 1000:6.1f} ms")
        print(f"  {name:4} floor: raw events + chain rows     {f * 1000:6.1f} ms: {t / f:.2f}x raw")
        print(f"  {name:4} ledger write path, signed head     {o * 1000:6.1f} ms: {t / o:.2f}x raw")
        print(f"  {name:4} ledger write path, head left out   {u * 1000:6.1f} ms: {t / u:.2f}x raw")


def _clocks() -> tuple[float, float]:
    return time.perf_counter(), time.process_time()


def _since(started: tuple[float, float]) -> tuple[float, float]:
    wall, cpu = _clocks()
    return wall - started[0], cpu - started[1]


if __name__ == "__main__":
    main()
