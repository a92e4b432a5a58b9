"""``import`` of a whole-ledger export against raw sqlite3 inserting the very same rows, and
its peak memory at two file sizes, same run.

    python bench/import_path.py [--sizes 50000,200000] [--repeat 3]

For each size, a ledger written the way boots write it (``read_side.build``, cached in
bench/.cache/) is exported once (cached too). Then, each in its own interpreter and each
into a new ledger:

- ``import``: the command's handler (``run(["import", FILE, ...])``) after the interpreter
  has imported it: reading and checking every line, then writing (chain, signed head, the
  open-loop index) in one transaction. Its peak RSS is the interpreter's.
- raw insert: the file's rows (originator id, version, topic, state bytes), decoded before
  the clock starts, inserted with one ``executemany`` in one transaction into the same
  events table: the issue's baseline.
- raw read + insert: the same, with reading the file (orjson, base64) on the clock: what
  the cheapest streaming import that checks nothing would cost.

No number from here goes into a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import read_side

LOOPS = 1000

IMPORT = """
import json, resource, sys, time
from recovery_ledger.infra.cli.main import run
file, ledger = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
started, cpu = time.perf_counter(), time.process_time()
code = run(["import", file, "--ledger", ledger, "--keys", ledger + ".keys"])
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"code": code, "seconds": seconds, "cpu": cpu, "rss_before": before,
                  "rss_peak": peak}))
"""

RAW = """
import base64, json, sqlite3, sys, time, uuid
import orjson
file, ledger, with_read = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
def rows():
    with open(file, "rb") as handle:
        for line in handle:
            data = orjson.loads(line)
            yield (uuid.UUID(data["originator_id"]).hex, data["originator_version"],
                   data["topic"], base64.b64decode(data["state"]))
conn = sqlite3.connect(ledger, isolation_level=None)
conn.execute("PRAGMA journal_mode=WAL")
conn.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
             "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))")
ready = None if with_read else list(rows())
started, cpu = time.perf_counter(), time.process_time()
conn.execute("BEGIN")
conn.executemany("INSERT INTO stored_events VALUES (?, ?, ?, ?)",
                 rows() if with_read else ready)
conn.execute("COMMIT")
seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu}))
"""


def export_file(events: int) -> tuple[Path, int]:
    ledger = read_side.ensure_ledger(events, LOOPS)
    path = ledger.with_suffix(".jsonl")
    if not path.exists():
        partial = path.with_name(path.name + ".partial")
        with partial.open("w") as out:
            subprocess.run(
                [sys.executable, "-m", "recovery_ledger", "export", "--ledger", str(ledger),
                 "--keys", str(read_side._keys(ledger))],
                stdout=out, check=True,
            )  # fmt: skip
        os.replace(partial, path)
    with path.open("rb") as handle:
        lines = sum(1 for _ in handle)
    return path, lines


def _child(script: str, *args: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, *args], capture_output=True, text=True, check=True
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def measure(path: Path, repeat: int) -> dict[str, Any]:
    runs: dict[str, list[dict[str, Any]]] = {"import": [], "raw": [], "raw_read": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as tmp:
            ours = _child(IMPORT, str(path), str(Path(tmp) / "ours.sqlite"))
            assert ours["code"] == 0, ours
            runs["import"].append(ours)
            runs["raw"].append(_child(RAW, str(path), str(Path(tmp) / "raw.sqlite"), "0"))
            runs["raw_read"].append(_child(RAW, str(path), str(Path(tmp) / "read.sqlite"), "1"))
    return {
        name: {key: statistics.median(run[key] for run in found) for key in found[0]}
        for name, found in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50000,200000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} at start; medians of {args.repeat}")
    for size in (int(s) for s in args.sizes.split(",")):
        path, lines = export_file(size)
        found = measure(path, args.repeat)
        ours, raw, read = found["import"], found["raw"], found["raw_read"]
        print(f"{lines} events ({path.stat().st_size / 2**20:.0f} MB of export)")
        for clock in ("seconds", "cpu"):
            print(
                f"  {clock:7} import {ours[clock]:6.2f} s; raw insert {raw[clock]:5.2f} s: "
                f"{raw[clock] / ours[clock]:.2f}x raw; raw read + insert "
                f"{read[clock]:5.2f} s: {read[clock] / ours[clock]:.2f}x"
            )
        print(
            f"  peak RSS {ours['rss_peak']:.0f} MB (the interpreter with the command "
            f"imported: {ours['rss_before']:.0f} MB; the import added "
            f"{ours['rss_peak'] - ours['rss_before']:.0f} MB)"
        )
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
