"""What tamper evidence costs on the write path, against the code before signed heads, in the
same run (issue 10).

The baseline is the tree at a git revision (default 47adff6: main before signed heads; then
every write command, and every boot at its end, signed one checkpoint over the whole chain),
unpacked with `git archive` into a temporary directory and imported from there; the current
code is this tree. Each side runs in its own interpreter, alternately, on the same machine:

1. Per boot: `recovery-ledger boot` with 20 live loops against the reference cloud (every
   status GET answers `active`), run in-process through the real command line entry
   (``run([...])``), median of --boots boots. Now: a signed head in each of the boot's
   transactions, the witness moved after each, and the write guard before it.
2. Per 1,000 events written by single-event commands: `loop token` in-process, --tokens
   times, scaled to 1,000 (now: guard + one head per command; before: one checkpoint per
   command).
3. verify's projection check (a fold of every event in memory, compared row by row) on a
   ledger of --projection-events events written by boots (bench/read_side.py's builder),
   against catching the stored projections up from nothing on that ledger, same run.

    python bench/integrity.py [--baseline REV] [--boots 15] [--tokens 200]
                              [--projection-events 100000]

No number from here goes into a test: machines are noisy; ratios are what we quote.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOOPS = 20


_PARSED: dict[tuple[str, ...], Any] = {}


def _quiet_run(argv: list[str], stdin: str = "") -> int:
    """The command's handler, in-process, as the entry point calls it, its output swallowed.
    The argument parser is built once: its cost is not the write path's (and it differs
    between the two trees for reasons of other issues)."""
    import contextlib
    from importlib import import_module

    from recovery_ledger.infra.cli.context import CommandContext
    from recovery_ledger.infra.cli.parser import build_parser

    key = tuple(argv)
    if key not in _PARSED:
        _PARSED[key] = build_parser().parse_args(argv)
    args = _PARSED[key]
    module_name, _, function_name = args.handler.partition(":")
    handler = getattr(import_module(module_name), function_name)
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return int(handler(CommandContext(args)))


def child(directory: Path, boots: int, tokens: int) -> dict[str, Any]:
    """Runs inside the interpreter of one side (baseline or current)."""
    from recovery_ledger.infra.boot.host import host_id
    from recovery_ledger.infra.boot.liveness import process_start_time
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.refcloud import ReferenceCloud
    from recovery_ledger.infra.store.app import open_ledger
    from recovery_ledger.infra.store.location import resolve_location

    ledger = directory / "ledger.sqlite"
    keys = directory / "keys"
    common = ["--ledger", str(ledger), "--keys", str(keys)]
    result: dict[str, Any] = {}
    with ReferenceCloud() as cloud:
        app = open_ledger(resolve_location(str(ledger)), KeyStore(keys), create=True)
        me, start = os.getpid(), process_start_time(os.getpid())
        for i in range(LOOPS):
            cloud.add_loop(f"bench-{i}")
            app.register_loop(
                loop_id=f"bench-{i}",
                provenance="desktop_managed",
                pid=me,
                pid_start_time=start,
                host_id=host_id(keys),
                token=cloud.issue_token(f"bench-{i}", ttl_s=3600),
            )
        _quiet_run(["boot", "--cloud", cloud.url, *common])  # warm-up: imports, first key
        times = []
        for _ in range(boots):
            started = time.perf_counter()
            code = _quiet_run(["boot", "--cloud", cloud.url, *common])
            times.append(time.perf_counter() - started)
            if code != 0:
                raise SystemExit(f"boot exited {code}")
        count_before = _events(app)
        result["boot_s"] = statistics.median(times)
        token_times = []
        for i in range(tokens):
            token = cloud.issue_token("bench-0", ttl_s=3600)
            started = time.perf_counter()
            code = _quiet_run(["loop", "token", "--loop", "bench-0", *common], stdin=token)
            token_times.append(time.perf_counter() - started)
            if code != 0:
                raise SystemExit(f"loop token exited {code} at {i}")
        result["token_s"] = statistics.median(token_times)
        result["events_per_boot"] = (count_before - 2 * LOOPS) / (boots + 1)
        result.update(_pieces(app))
    return result


def _pieces(app: Any) -> dict[str, float]:
    """The new work alone, where this tree has it: the write guard, and one head signed and
    its witness written (fsync included)."""
    try:
        from recovery_ledger.infra.integrity.guard import (
            _newest_head_and_last_event,
            check_before_write,
        )
    except ImportError:
        return {}
    from recovery_ledger.infra.integrity.sql import LedgerSQL

    newest, _ = _newest_head_and_last_event(
        LedgerSQL.for_app(app)
    )  # re-signed as it is: the witness stays true
    assert newest is not None
    signer = app.recorder.head_signer
    guard, head = [], []
    for _ in range(50):
        started = time.perf_counter()
        check_before_write(app)
        guard.append(time.perf_counter() - started)
        started = time.perf_counter()
        signer.committed(signer.sign_head(newest.position, newest.event_count, newest.head))
        head.append(time.perf_counter() - started)
    return {"guard_s": statistics.median(guard), "head_and_witness_s": statistics.median(head)}


def _events(app: Any) -> int:
    return int(app.recorder.max_notification_id() or 0)


def projection_check(directory: Path, events: int) -> dict[str, float]:
    """verify's projection check on a ledger of ``events`` events written by boots
    (bench/read_side.py's builder), against catching the stored projections up from
    nothing (`projections rebuild`'s work) in the same run."""
    sys.path.insert(0, str(REPO / "bench"))
    from read_side import _open, build

    from recovery_ledger.infra.integrity.projections_check import check_projections
    from recovery_ledger.infra.integrity.verify import VerifyReport
    from recovery_ledger.infra.projection_store.store import ProjectionStore

    ledger = directory / "big.sqlite"
    count = build(ledger, events, max(10, events // 1000))
    app = _open(ledger, create=False)
    started = time.perf_counter()
    ProjectionStore(app).catch_up()
    rebuild = time.perf_counter() - started
    report = VerifyReport()
    started = time.perf_counter()
    check_projections(app, report)
    check = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"projection check found problems: {report.problems[:1]}")
    return {"events": count, "rebuild_s": rebuild, "projection_check_s": check}


def _side(python_path: str | None, *child: str) -> dict[str, Any]:
    env = {**os.environ}
    env.pop("RECOVERY_LEDGER_HOST_ID", None)
    if python_path:
        env["PYTHONPATH"] = python_path
    with tempfile.TemporaryDirectory() as directory:
        out = subprocess.run(
            [sys.executable, __file__, "--child", directory, *child],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="47adff6")
    parser.add_argument("--boots", type=int, default=15)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--projection-events", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        directory, *numbers = args.child
        if len(numbers) == 1:
            print(json.dumps(projection_check(Path(directory), int(numbers[0]))))
        else:
            print(json.dumps(child(Path(directory), int(numbers[0]), int(numbers[1]))))
        return
    with tempfile.TemporaryDirectory() as base:
        tree = Path(base) / "recovery_ledger"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        before = _side(base, str(args.boots), str(args.tokens))
    now = _side(None, str(args.boots), str(args.tokens))
    check = _side(None, str(args.projection_events))
    per_boot = now["boot_s"] - before["boot_s"]
    print(f"projection check: {json.dumps(check)}")
    per_token = now["token_s"] - before["token_s"]
    print(f"baseline {args.baseline}: {json.dumps(before)}")
    print(f"current: {json.dumps(now)}")
    print(
        f"boot, {LOOPS} loops ({now['events_per_boot']:.0f} events): "
        f"{before['boot_s'] * 1000:.1f} ms -> {now['boot_s'] * 1000:.1f} ms "
        f"({now['boot_s'] / before['boot_s']:.2f}x, {per_boot * 1000:+.1f} ms a boot, "
        f"{per_boot * 1000 / now['events_per_boot'] * 1000:+.0f} ms per 1,000 events)"
    )
    if "guard_s" in now:
        print(
            f"the new work alone: write guard {now['guard_s'] * 1000:.2f} ms a command; "
            f"one signed head + witness {now['head_and_witness_s'] * 1000:.2f} ms a transaction"
        )
    print(
        f"loop token (1 event a command): {before['token_s'] * 1000:.1f} ms -> "
        f"{now['token_s'] * 1000:.1f} ms ({now['token_s'] / before['token_s']:.2f}x, "
        f"{per_token * 1000:+.1f} ms a command, {per_token * 1000:+.1f} s per 1,000 events)"
    )
    rate = check["events"] / check["projection_check_s"]
    ratio = check["projection_check_s"] / check["rebuild_s"]
    print(
        f"verify's projection check over {check['events']:,} events: "
        f"{check['projection_check_s']:.1f} s ({rate:,.0f} events/s) against rebuilding the "
        f"stored projections {check['rebuild_s']:.1f} s ({ratio:.2f}x); "
        f"1,000,000 events at this rate: {1_000_000 / rate:.0f} s"
    )


if __name__ == "__main__":
    main()
