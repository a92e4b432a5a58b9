"""Benchmarks on your own ledger (SQLite), each a ratio against a baseline measured in the
same run on the same machine: what an SRE runs to see how a real ledger behaves.

    python bench/ledger.py --ledger PATH [--keys DIR] [--loop LOOP_ID] [--repeat 3]

Your ledger and key directory are only read: everything runs on a copy (SQLite's online
backup, so a ledger in use is copied consistently) in a temporary directory, removed after.

1. Boot examining 0 loops (the copy gets a new host id, so none of its loops are this
   host's): `boot --json`, whole command, against the same command on an empty ledger.
   Skipped without a key directory (a boot signs its head with the installation's key).
2. `projections rebuild`: events/s and peak RSS, against raw sqlite3 reading and
   orjson-decoding every stored event.
3. `replay --loop ID --json` (default: the loop with the most events) against raw sqlite3
   reading and decoding that loop's events.
4. `audit --json` against raw sqlite3 reading every boot, decision and finding row.

(2-4 run in-process after importing the modules, each in its own interpreter, as
bench/read_side.py does.) No number from here goes into a test.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import sys
import tempfile
import uuid
from pathlib import Path

# bench/ is not a package: its scripts import each other from their own folder.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import boot as boot_bench
import read_side


def copy_ledger(source: Path, keys: Path | None, directory: Path) -> Path:
    copy = directory / "ledger.sqlite"
    with sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True) as src:
        dst = sqlite3.connect(copy)
        src.backup(dst)
        dst.close()
    if keys is not None and keys.is_dir():
        shutil.copytree(keys, Path(str(copy) + ".keys"))
    return copy


def busiest_loop(ledger: Path) -> str:
    """The loop id of the loop with the most events."""
    import orjson

    with sqlite3.connect(ledger) as conn:
        busiest = conn.execute(
            "SELECT originator_id FROM stored_events WHERE topic LIKE 'rl:Loop.%' "
            "GROUP BY originator_id ORDER BY COUNT(*) DESC LIMIT 1"
        ).fetchone()
        if busiest is None:
            raise SystemExit("the ledger holds no loop")
        (state,) = conn.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND topic = ?",
            (busiest[0], "rl:Loop.Registered@1"),
        ).fetchone()
    return str(orjson.loads(state)["loop_id"])


def bench_boot(copy: Path, repeat: int) -> None:
    keys = Path(str(copy) + ".keys")
    if not keys.is_dir():
        print("boot: skipped (no key directory given)")
        return
    (keys / "host-id").write_text(f"bench-{uuid.uuid4()}\n")
    empty = copy.with_name("empty.sqlite")
    argv = [sys.executable, "-m", "recovery_ledger", "boot", "--json"]
    full_env, empty_env = boot_bench.env_for(copy), boot_bench.env_for(empty)
    boot_bench.check_examines(argv, full_env, 0)
    boot_bench.check_examines(argv, empty_env, 0)
    full_t, empty_t = [], []
    for _ in range(repeat):
        full_t.append(boot_bench.wall(argv, full_env))
        empty_t.append(boot_bench.wall(argv, empty_env))
    f, e = statistics.median(full_t), statistics.median(empty_t)
    print(f"boot examining 0 loops: {f * 1000:.0f} ms; on an empty ledger {e * 1000:.0f} ms; "
          f"ratio {f / e:.2f}x")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ledger", type=Path, required=True, help="the SQLite ledger file")
    parser.add_argument("--keys", type=Path, help="its key directory (default: LEDGER.keys)")
    parser.add_argument("--loop", help="the loop to replay (default: the busiest)")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not args.ledger.is_file():
        raise SystemExit(f"no ledger at {args.ledger}")
    keys = args.keys or Path(str(args.ledger) + ".keys")
    with tempfile.TemporaryDirectory() as tmp:
        copy = copy_ledger(args.ledger, keys, Path(tmp))
        events = sqlite3.connect(copy).execute("SELECT COUNT(*) FROM stored_events").fetchone()[0]
        print(f"a copy of {args.ledger}: {events} events (medians of {args.repeat})")
        bench_boot(copy, args.repeat)
        read_side.report(copy, args.loop or busiest_loop(copy), args.repeat)


if __name__ == "__main__":
    main()
