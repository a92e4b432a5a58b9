"""Progress is shown on a terminal when a boot takes more than a moment, never on a pipe."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

import pytest

from ..conftest import REPO
from ..e2e.test_boot_e2e import World, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


def _boot(world: World, stderr: int) -> subprocess.Popen[bytes]:  # noqa: F811
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "recovery_ledger", "boot", "--json"),
            *("--cloud", world.cloud.url, "--pop-key", str(world.pop_key)),
        ],
        stdout=subprocess.PIPE,
        stderr=stderr,
        env={**os.environ, "PYTHONPATH": str(REPO), **world.ledger.env()},
        cwd=REPO,
    )


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the other side of the terminal is closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_slow_boot_shows_progress_on_a_terminal_and_keeps_stdout_clean(
    world: World,  # noqa: F811
) -> None:
    world.add("slow")
    world.cloud.inject_fault("slow", endpoint="status", latency=1.5, times=1)
    primary, secondary = pty.openpty()
    process = _boot(world, secondary)
    os.close(secondary)
    stdout, _ = process.communicate(timeout=60)
    terminal = _read_all(primary).decode()
    os.close(primary)
    assert process.returncode == 0
    assert "examining loops: 1/1" in terminal
    assert b"examining" not in stdout and stdout.startswith(b"{")


def test_a_slow_boot_shows_no_progress_on_a_pipe(world: World) -> None:  # noqa: F811
    world.add("slow")
    world.cloud.inject_fault("slow", endpoint="status", latency=1.5, times=1)
    process = _boot(world, subprocess.PIPE)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 0
    assert stderr == b""
    assert stdout.startswith(b"{")
