"""Read-side benchmarks over a big ledger, each against raw sqlite3 reading the same rows in
the same run.

The ledger (default 1,000,000 events: 1,000 loops, ~230 boots of all of them, one loop in ten
answered 401 and sent a heartbeat that got a 503) is written through the real write path
(aggregates, orjson, the hash chain, one transaction per boot) and cached under
bench/.cache/, so later runs skip building it.

1. Rebuild: `projections rebuild` over every event (events/s, peak RSS), against raw sqlite3
   reading every stored event in order and decoding its JSON state.
2. Replay one loop: `replay --loop ID --json` in-process (projections caught up; modules
   imported beforehand), against raw sqlite3 reading that loop's stored events and decoding them.
3. Audit: `audit --json` in-process (likewise), against raw sqlite3 reading the rows it
   reports on (every boot, decision and finding row).

4. With --postgres DSN: the rebuild on a PostgreSQL ledger (its schema, e.g.
   `postgresql://postgres@127.0.0.1/test?schema=bench`, written by the same generator to
   --pg-events events the first time) against the rebuild of a SQLite ledger of the same
   events count, alternating, in the same run.

Each measurement runs in a fresh interpreter (so peak RSS is its own); medians of --repeat.

    python bench/read_side.py [--events 1000000] [--loops 1000] [--repeat 3]
    python bench/read_side.py --postgres DSN [--pg-events 200000] [--repeat 3]

No number from here goes into a test: machines are noisy; ratios are what we quote.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CACHE = REPO / "bench" / ".cache"
sys.path.insert(0, str(REPO))

# A well-formed runner JWT (HS256 over a throwaway key) that never expires.
BENCH_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiJiZW5jaCIsImV4cCI6NDAwMDAwMDAwMH0."
    "t6Ksf4iSs444dj0Agi4uQjwiWq0azM0bblmYcAOQJhI"
)
HEARTBEAT_EVERY = 10  # one loop in ten: 401, PoP heartbeat, 503, kept conservatively


# -- building the ledger ----------------------------------------------------------------------


def _open(ledger: Path | str, *, create: bool) -> Any:
    from recovery_ledger.infra.bootstrap import ledger_app
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.store.location import resolve_location

    return ledger_app(resolve_location(str(ledger)), KeyStore(_keys(ledger)), create=create)


def _keys(ledger: Path | str) -> Path:
    if isinstance(ledger, str):  # a PostgreSQL DSN
        return CACHE / "postgres.keys"
    return Path(str(ledger) + ".keys")


def build(ledger: Path | str, events: int, loops: int) -> int:
    """Write the ledger the way boots write it; returns the number of events."""
    from uuid import uuid4

    from recovery_ledger.domain.boot import Boot
    from recovery_ledger.domain.observations import (
        HeartbeatAnswer,
        LivenessObservation,
        StatusAnswer,
    )
    from recovery_ledger.domain.policies import LoopFacts, decide_v3_pop_guarded

    app = _open(ledger, create=True)
    token = BENCH_TOKEN
    registered = []
    for i in range(loops):
        registered.append(
            app.register_loop(
                loop_id=f"loop-{i:05d}",
                provenance="desktop_managed",
                pid=10_000 + i,
                pid_start_time=1_795_000_000.0 + i,
                host_id=f"host-{i % 3}",
                token=token,
            )
        )
    alive = LivenessObservation(True, "running", 1_795_000_000.0)
    written = int(app.recorder.max_notification_id() or 0)
    boots = 0
    while written < events:
        boot_id = uuid4()
        boot = Boot(
            boot_id=boot_id,
            policy="v3-pop-guarded",
            host_id=f"host-{boots % 3}",
            host_name="bench",
            app_version="bench",
            cloud_url="https://cloud.example",
            loop_ids=[loop.loop_id for loop in registered],
        )
        for n, loop in enumerate(registered):
            answer = StatusAnswer(401) if n % HEARTBEAT_EVERY == 0 else StatusAnswer(200, "active")
            facts = LoopFacts("desktop_managed", True, answer, True)
            decision = decide_v3_pop_guarded(facts, None)
            loop.observe_runner(boot_id, alive)
            loop.observe_cloud(boot_id, 1, answer)
            loop.classify(
                boot_id,
                decision.policy,
                decision.classification,
                pop_available=True,
                pop_reason="available",
                post_heartbeat=decision.post_heartbeat,
            )
            if decision.post_heartbeat:
                heartbeat = HeartbeatAnswer(503)
                loop.begin_heartbeat(boot_id, f"proof-{boots}-{n}", "https://cloud.example/hb")
                loop.record_heartbeat_answer(boot_id, heartbeat)
                decision = decide_v3_pop_guarded(facts, heartbeat)
            assert decision.outcome is not None and decision.outcome.reattach_mode
            loop.reattach(boot_id, decision.outcome.reattach_mode)
        boot.complete({"examined": loops, "reattached": loops})
        app.save(boot, *registered)
        written = int(app.recorder.max_notification_id())
        boots += 1
    app.close()
    return written


def ensure_ledger(events: int, loops: int) -> Path:
    CACHE.mkdir(exist_ok=True)
    ledger = CACHE / f"read_side-{events}-{loops}.sqlite"
    if not ledger.exists():
        partial = ledger.with_name(ledger.name + ".partial")
        for stale in CACHE.glob(partial.name + "*"):
            stale.unlink()
        started = time.perf_counter()
        count = build(partial, events, loops)
        for suffix in ("-wal", "-shm"):
            Path(str(partial) + suffix).unlink(missing_ok=True)
        if _keys(partial).exists():
            os.replace(_keys(partial), _keys(ledger))
        os.replace(partial, ledger)
        print(f"built {ledger.name}: {count} events in {time.perf_counter() - started:.0f} s")
    return ledger


# -- measurements, each in its own interpreter ---------------------------------------------


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _cpu_seconds() -> float:
    """User + system CPU time of this process: on a loaded machine, where wall time is
    mostly waiting for a core, the ratio of CPU times is the steadier one."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure_rebuild(ledger: Path | str) -> dict[str, float]:
    from recovery_ledger.infra.projection_store.store import ProjectionStore

    app = _open(ledger, create=False)
    store = ProjectionStore(app)
    cpu, started = _cpu_seconds(), time.perf_counter()
    events = store.rebuild()
    seconds = time.perf_counter() - started
    store.close()
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu,
        "events": events,
        "rss_mb": _peak_rss_mb(),
    }


def measure_raw_scan(ledger: Path) -> dict[str, float]:
    import sqlite3

    import orjson

    conn = sqlite3.connect(ledger)
    cpu, started = _cpu_seconds(), time.perf_counter()
    events = 0
    cursor = conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid"
    )
    while rows := cursor.fetchmany(5000):
        for row in rows:
            orjson.loads(row[4])
            events += 1
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "cpu_seconds": _cpu_seconds() - cpu,
        "events": events,
        "rss_mb": _peak_rss_mb(),
    }


def _preload() -> None:
    """Import what the read commands import lazily (parsing the arguments and opening the
    ledger included): import time is the cold-start benchmark's business (bench/boot.py),
    not this one's."""
    import eventsourcing.sqlite  # noqa: F401

    import recovery_ledger.infra.cli.help_text
    import recovery_ledger.infra.cli.parser
    import recovery_ledger.infra.cli.read_commands
    import recovery_ledger.infra.crypto.ledger_key
    import recovery_ledger.infra.integrity.guard
    import recovery_ledger.infra.projection_store.store
    import recovery_ledger.infra.store.app
    import recovery_ledger.infra.store.recorders
    import recovery_ledger.infra.version
    import recovery_ledger.projections.audit
    import recovery_ledger.projections.replay  # noqa: F401


def _run_cli_in_process(argv: list[str]) -> float:
    import contextlib
    import io

    from recovery_ledger.infra.cli.main import run

    _preload()

    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        code = run(argv)
    seconds = time.perf_counter() - started
    if code not in (0, 1):
        raise SystemExit(f"{argv} exited {code}")
    return seconds


def _cli_args(ledger: Path) -> list[str]:
    return ["--ledger", str(ledger), "--keys", str(_keys(ledger))]


def measure_replay_loop(ledger: Path, loop_id: str) -> dict[str, float]:
    seconds = _run_cli_in_process(["replay", "--loop", loop_id, "--json", *_cli_args(ledger)])
    return {"seconds": seconds, "rss_mb": _peak_rss_mb()}


def measure_raw_loop(ledger: Path, loop_id: str) -> dict[str, float]:
    import sqlite3

    import orjson

    from recovery_ledger.domain.loop import loop_aggregate_id

    conn = sqlite3.connect(ledger)
    started = time.perf_counter()
    rows = conn.execute(
        "SELECT originator_version, topic, state FROM stored_events WHERE originator_id = ? "
        "ORDER BY originator_version",
        (loop_aggregate_id(loop_id).hex,),
    ).fetchall()
    for row in rows:
        orjson.loads(row[2])
    seconds = time.perf_counter() - started
    assert rows, "no events read: wrong originator id spelling"
    return {"seconds": seconds, "events": len(rows), "rss_mb": _peak_rss_mb()}


def measure_audit(ledger: Path) -> dict[str, float]:
    seconds = _run_cli_in_process(["audit", "--json", *_cli_args(ledger)])
    return {"seconds": seconds, "rss_mb": _peak_rss_mb()}


def measure_raw_audit_rows(ledger: Path) -> dict[str, float]:
    import sqlite3

    conn = sqlite3.connect(ledger)
    started = time.perf_counter()
    count = 0
    for table in ("rl_boots", "rl_decisions", "rl_findings"):
        count += len(conn.execute(f"SELECT * FROM {table}").fetchall())  # noqa: S608
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": count, "rss_mb": _peak_rss_mb()}


# Each takes the ledger and what it measures (a loop id for the per-loop ones), all as text.
MEASUREMENTS: dict[str, Callable[..., dict[str, float]]] = {
    "rebuild": measure_rebuild,
    "raw_scan": measure_raw_scan,
    "replay_loop": measure_replay_loop,
    "raw_loop": measure_raw_loop,
    "audit": measure_audit,
    "raw_audit_rows": measure_raw_audit_rows,
}


def _child(name: str, *args: str) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, __file__, "--measure", name, *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed: {proc.stderr.strip()}")
    result: dict[str, float] = json.loads(proc.stdout.splitlines()[-1])
    return result


def _median(name: str, repeat: int, *args: str) -> dict[str, float]:
    runs = [_child(name, *args) for _ in range(repeat)]
    return {key: statistics.median(run[key] for run in runs) for key in runs[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="DSN", help="compare a PostgreSQL rebuild")
    parser.add_argument("--pg-events", type=int, default=200_000)
    parser.add_argument("--measure", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        name, *rest = args.measure
        target = rest[0] if rest[0].startswith("postgresql:") else Path(rest[0])
        print(json.dumps(MEASUREMENTS[name](target, *rest[1:])))
        return
    if args.postgres:
        compare_postgres(args.postgres, args.pg_events, args.loops, args.repeat)
        return

    ledger = ensure_ledger(args.events, args.loops)
    report(ledger, f"loop-{args.loops // 2:05d}", args.repeat)


def compare_postgres(dsn: str, events: int, loops: int, repeat: int) -> None:
    """PostgreSQL's rebuild against SQLite's over ledgers of the same events count, written by
    the same generator; the two alternate, so both meet the same load."""
    app = _open(dsn, create=True)
    written = int(app.recorder.max_notification_id() or 0)
    app.close()
    if written == 0:
        CACHE.mkdir(exist_ok=True)
        started = time.perf_counter()
        written = build(dsn, events, loops)
        took = time.perf_counter() - started
        print(f"built the PostgreSQL ledger: {written} events in {took:.0f} s")
    sqlite = ensure_ledger(events, loops)
    runs: dict[str, list[dict[str, float]]] = {"sqlite": [], "postgres": []}
    for _ in range(repeat):
        runs["sqlite"].append(_child("rebuild", str(sqlite)))
        runs["postgres"].append(_child("rebuild", dsn))
    seconds = {k: statistics.median(r["seconds"] for r in v) for k, v in runs.items()}
    events_of = {k: int(v[0]["events"]) for k, v in runs.items()}
    rss = {k: max(r["rss_mb"] for r in v) for k, v in runs.items()}
    for name in ("sqlite", "postgres"):
        print(
            f"rebuild on {name}: {events_of[name]} events, {seconds[name]:.2f} s "
            f"(median of {repeat}), peak RSS {rss[name]:.0f} MB"
        )
    print(f"  ratio PostgreSQL / SQLite {seconds['postgres'] / seconds['sqlite']:.2f}x")


def report(ledger: Path, loop_id: str, repeat: int) -> None:
    """Every read-side measurement on ``ledger`` (keys at LEDGER.keys), printed as ratios."""
    rebuild = _median("rebuild", repeat, str(ledger))
    raw = _median("raw_scan", repeat, str(ledger))
    print(f"ledger {ledger.name}: {int(rebuild['events'])} events (median of {repeat})")
    print(
        f"rebuild projections: {rebuild['seconds']:.2f} s, "
        f"{rebuild['events'] / rebuild['seconds']:,.0f} events/s, "
        f"peak RSS {rebuild['rss_mb']:.0f} MB"
    )
    print(
        f"  raw sqlite3 read + orjson decode of the same events: {raw['seconds']:.2f} s, "
        f"{raw['events'] / raw['seconds']:,.0f} events/s, peak RSS {raw['rss_mb']:.0f} MB"
    )
    print(
        f"  ratio rebuild / raw {rebuild['seconds'] / raw['seconds']:.2f}x "
        f"(CPU time: rebuild {rebuild['cpu_seconds']:.2f} s, raw {raw['cpu_seconds']:.2f} s, "
        f"{rebuild['cpu_seconds'] / raw['cpu_seconds']:.2f}x)"
    )

    replay = _median("replay_loop", repeat, str(ledger), loop_id)
    raw_loop = _median("raw_loop", repeat, str(ledger), loop_id)
    print(
        f"replay one loop ({loop_id}, {int(raw_loop['events'])} events): "
        f"{replay['seconds'] * 1000:.1f} ms; raw sqlite3 read + decode of its events "
        f"{raw_loop['seconds'] * 1000:.1f} ms; ratio {replay['seconds'] / raw_loop['seconds']:.2f}x"
    )
    audit = _median("audit", repeat, str(ledger))
    raw_rows = _median("raw_audit_rows", repeat, str(ledger))
    print(
        f"audit --json: {audit['seconds']:.2f} s, peak RSS {audit['rss_mb']:.0f} MB; "
        f"raw sqlite3 read of the {int(raw_rows['rows'])} rows it reports on "
        f"{raw_rows['seconds']:.2f} s; ratio {audit['seconds'] / raw_rows['seconds']:.2f}x"
    )


if __name__ == "__main__":
    main()
