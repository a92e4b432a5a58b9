"""Two real processes write the same loop at the same instant: one wins, the other gets a
clear error and exit 3, and nothing is lost."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import REPO, Ledger, event_count, run_cli
from .test_store import make_token, register

pytestmark = [pytest.mark.slow, pytest.mark.both_backends]

# The real command line, held at a barrier just before it saves: both writers have read the
# loop at the same version, so both try to append the same next version.
_AT_BARRIER = """
import os, sys, time
from pathlib import Path
import recovery_ledger.infra.store.app as app_module

barrier = Path(sys.argv[1])
original_save = app_module.LedgerApp.save

def save_at_barrier(self, *aggregates, **kwargs):
    (barrier / f"ready-{os.getpid()}").touch()
    deadline = time.monotonic() + 30
    while not (barrier / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    return original_save(self, *aggregates, **kwargs)

app_module.LedgerApp.save = save_at_barrier
from recovery_ledger.infra.cli.main import run
sys.exit(run(sys.argv[2:]))
"""


def _race(
    ledger: Ledger, barrier: Path, *commands: tuple[list[str], str | None]
) -> list[tuple[int, str, str]]:
    import os

    env = {**os.environ, "PYTHONPATH": str(REPO), **ledger.env()}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _AT_BARRIER, str(barrier), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        for args, _ in commands
    ]
    for process, (_, stdin) in zip(processes, commands, strict=True):
        assert process.stdin is not None
        if stdin:
            process.stdin.write(stdin)
        process.stdin.close()
    deadline = time.monotonic() + 30
    while len(list(barrier.glob("ready-*"))) < len(processes):
        assert time.monotonic() < deadline, "writers never reached the barrier"
        assert all(p.poll() is None for p in processes), [
            (p.returncode, p.stderr.read() if p.stderr and p.poll() is not None else None)
            for p in processes
        ]
        time.sleep(0.01)
    (barrier / "go").touch()
    results = []
    for process in processes:
        process.wait(timeout=60)  # its output is a few lines: no pipe can fill up
        assert process.stdout is not None and process.stderr is not None
        results.append((process.returncode, process.stdout.read(), process.stderr.read()))
        process.stdout.close()
        process.stderr.close()
    return results


def test_two_token_rotations_at_once_one_wins_one_is_told_nothing_is_lost(
    ledger: Ledger, runner: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    register(ledger, "shared", runner.pid, make_token("jti-0"))
    before = event_count(ledger.env())
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    tokens = [make_token("jti-a"), make_token("jti-b")]
    results = _race(
        ledger,
        barrier,
        *[(["loop", "token", "--loop", "shared"], token) for token in tokens],
    )
    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 3], results
    winner = next(i for i, (code, _, _) in enumerate(results) if code == 0)
    loser_stderr = next(stderr for code, _, stderr in results if code == 3)
    assert "changed by another writer" in loser_stderr and "nothing was written" in loser_stderr
    assert loser_stderr.count("\n") == 1 and "Traceback" not in loser_stderr

    # The winner's token is the loop's token; the earlier history is all there and verifies.
    got = run_cli("token", "get", "--loop", "shared", env=ledger.env())
    assert got.stdout.strip() == tokens[winner]
    assert event_count(ledger.env()) > before
    export = run_cli("export", "--loop", "shared", env=ledger.env())
    topics = [line for line in export.stdout.splitlines() if "TokenIssued" in line]
    assert len(topics) == 2  # registration's token and the winner's, not the loser's


def test_two_registrations_of_the_same_loop_at_once_record_one(
    ledger: Ledger, runner: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    # Create the ledger first so that both racers open an existing one.
    register(ledger, "other", runner.pid, make_token("jti-o"))
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    args = ["loop", "register", "--loop", "twin", "--pid", str(runner.pid)]
    results = _race(
        ledger,
        barrier,
        ([*args, "--provenance", "desktop_managed"], make_token("jti-x")),
        ([*args, "--provenance", "user_created"], make_token("jti-y")),
    )
    assert sorted(code for code, _, _ in results) == [0, 3], results
    loser_stderr = next(stderr for code, _, stderr in results if code == 3)
    assert "already registered" in loser_stderr and loser_stderr.count("\n") == 1
    listing = run_cli("loops", "--json", env=ledger.env()).json()
    assert isinstance(listing, dict)
    assert sorted(row["loop_id"] for row in listing["loops"]) == ["other", "twin"]


@pytest.mark.postgres
def test_many_processes_opening_a_new_postgresql_ledger_at_once_all_succeed(
    tmp_path: Path,
) -> None:
    """CREATE ... IF NOT EXISTS is not safe under concurrency in PostgreSQL ("tuple
    concurrently updated"): writers starting together on a new ledger must not fail on it
    (nor on each other's signed heads: the write guard reads the witness before the ledger)."""
    import os
    import uuid

    from ..conftest import PG_DSN_BASE, drop_schema, require_postgres

    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RECOVERY_LEDGER_DB": f"{PG_DSN_BASE}?schema={schema}",
    }
    try:
        processes = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "recovery_ledger",
                    "loop",
                    "register",
                    "--loop",
                    f"L{i}",
                    "--pid",
                    str(os.getpid()),
                    "--provenance",
                    "user_created",
                    "--keys",
                    str(tmp_path / "keys"),
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=REPO,
            )
            for i in range(8)
        ]
        for i, process in enumerate(processes):
            assert process.stdin is not None
            process.stdin.write(make_token(f"jti-{i}"))
            process.stdin.close()
        results = [(p.wait(timeout=60), p.stderr.read() if p.stderr else "") for p in processes]
        assert [code for code, _ in results] == [0] * 8, results
    finally:
        drop_schema(schema)
