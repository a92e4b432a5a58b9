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
3. verify's projection check: a fold of every event in memory, compared row by row, timed
   on the boots' ledger (events/s), so it can be scaled to 1,000,000 events.

    python bench/integrity.py [--baseline REV] [--boots 15] [--tokens 200]

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


def _quiet_run(argv: list[str], stdin: str = "") -> int:
    """The real command line entry, in-process, its output swallowed."""
    import contextlib

    from recovery_ledger.infra.cli.main import run

    sys.stdin = io.StringIO(stdin)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return run(argv)


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
        result["events"] = _events(app)
        result.update(_projection_check(app))
    return result


def _events(app: Any) -> int:
    return int(app.recorder.max_notification_id() or 0)


def _projection_check(app: Any) -> dict[str, float]:
    try:
        from recovery_ledger.infra.integrity.projections_check import check_projections
        from recovery_ledger.infra.integrity.verify import VerifyReport
    except ImportError:  # the baseline has no such check
        return {}
    report = VerifyReport()
    started = time.perf_counter()
    check_projections(app, report)
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"projection check found problems: {report.problems[:1]}")
    return {"projection_check_s": elapsed}


def _side(python_path: str | None, boots: int, tokens: int) -> dict[str, Any]:
    env = {**os.environ}
    env.pop("RECOVERY_LEDGER_HOST_ID", None)
    if python_path:
        env["PYTHONPATH"] = python_path
    with tempfile.TemporaryDirectory() as directory:
        out = subprocess.run(
            [sys.executable, __file__, "--child", directory, str(boots), str(tokens)],
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
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        directory, boots, tokens = args.child
        print(json.dumps(child(Path(directory), int(boots), int(tokens))))
        return
    with tempfile.TemporaryDirectory() as base:
        tree = Path(base) / "recovery_ledger"
        tree.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.baseline], cwd=REPO, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
        before = _side(base, args.boots, args.tokens)
    now = _side(None, args.boots, args.tokens)
    per_boot = now["boot_s"] - before["boot_s"]
    per_token = now["token_s"] - before["token_s"]
    print(f"baseline {args.baseline}: {json.dumps(before)}")
    print(f"current: {json.dumps(now)}")
    print(
        f"boot, {LOOPS} loops ({now['events_per_boot']:.0f} events): "
        f"{before['boot_s'] * 1000:.1f} ms -> {now['boot_s'] * 1000:.1f} ms "
        f"({now['boot_s'] / before['boot_s']:.2f}x, {per_boot * 1000:+.1f} ms a boot, "
        f"{per_boot * 1000 / now['events_per_boot'] * 1000:+.0f} ms per 1,000 events)"
    )
    print(
        f"loop token (1 event a command): {before['token_s'] * 1000:.1f} ms -> "
        f"{now['token_s'] * 1000:.1f} ms ({now['token_s'] / before['token_s']:.2f}x, "
        f"{per_token * 1000:+.2f} ms a command, {per_token * 1000:+.0f} ms per 1,000 events)"
    )
    if "projection_check_s" in now:
        rate = now["events"] / now["projection_check_s"]
        print(
            f"verify's projection check: {now['events']} events in "
            f"{now['projection_check_s']:.2f} s ({rate:,.0f} events/s; 1,000,000 events: "
            f"{1_000_000 / rate:.0f} s)"
        )


if __name__ == "__main__":
    main()
