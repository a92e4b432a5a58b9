"""Issue 11 points 5 and 6 through the real command line: ``--deadline`` bounds the whole
boot whatever the cloud or the database does, and SIGTERM/SIGINT end it with one line and
their exit code, nothing half-written."""

# ruff: noqa: F811 - `world` is the fixture of test_boot_e2e, imported to be used here

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from typing import Any

import pytest

from ..conftest import REPO
from .test_boot_e2e import World, outcome, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _boot(world: World, *extra: str) -> subprocess.Popen[str]:
    args = ["boot", "--json", "--cloud", world.cloud.url, "--pop-key", str(world.pop_key)]
    return subprocess.Popen(
        [sys.executable, "-m", "recovery_ledger", *args, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), **world.ledger.env()},
        cwd=REPO,
    )


def test_a_hanging_cloud_heartbeats_included_ends_within_the_deadline(world: World) -> None:
    world.add("status-hangs")
    world.add("heartbeat-hangs", stale=True)
    world.cloud.inject_fault("status-hangs", endpoint="status", hang=True)
    world.cloud.inject_fault("heartbeat-hangs", endpoint="heartbeat", hang=True)
    process = _boot(world, "--deadline", "20", "--connect-timeout", "90", "--read-timeout", "90")
    # Before issue 11 a heartbeat got one request's time (here 180 s) past the deadline.
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    import json

    document: dict[str, Any] = json.loads(stdout)
    hung = world.entry(document, "status-hangs")
    assert hung["cloud"]["error"] == "timeout" and outcome(hung) == ("reattached", "conservative")
    heartbeat = world.entry(document, "heartbeat-hangs")
    assert heartbeat["heartbeat"]["error"] == "timeout"  # recorded as not done
    assert outcome(heartbeat) == ("reattached", "conservative")
    assert world.cli("verify").code == 0


def test_a_database_that_stops_answering_ends_the_boot_at_the_deadline(world: World) -> None:
    if world.ledger.path is None:
        pytest.skip("holds a SQLite write lock")  # the PostgreSQL case is the same watchdog
    world.add("L")
    holder = sqlite3.connect(world.ledger.path, timeout=1)
    holder.execute("BEGIN EXCLUSIVE")  # every write of the boot now waits
    try:
        process = _boot(world, "--deadline", "6")
        _, stderr = process.communicate(timeout=60)
    finally:
        holder.rollback()
        holder.close()
    assert process.returncode == 4
    assert stderr.count("\n") == 1 and "--deadline 6s" in stderr
    assert "Traceback" not in stderr
    assert world.cli("verify").code == 0
    assert world.cli("boot", "--cloud", world.cloud.url).code == 0  # the next boot completes


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_ends_the_boot_with_one_line_and_its_code(
    world: World, sig: signal.Signals, code: int
) -> None:
    for index in range(6):
        world.add(f"L{index}")
        world.cloud.inject_fault(f"L{index}", endpoint="status", hang=True)
    process = _boot(world, "--deadline", "60")
    deadline = time.monotonic() + 30
    while world.cli("boots", "--json").code != 0 and time.monotonic() < deadline:
        time.sleep(0.2)  # wait until the boot has started and is waiting on the cloud
    time.sleep(0.5)
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=15)
    assert process.returncode == code, stderr
    assert stderr.count("\n") == 1 and stderr.startswith("recovery-ledger: interrupted by ")
    assert sig.name in stderr and stdout == ""
    assert world.cli("verify").code == 0
    world.cloud.clear_faults()
    assert world.cli("boot", "--cloud", world.cloud.url).code == 0
