"""Liveness with real processes: alive, dead, reused pid, zombie."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from recovery_ledger.infra.boot.liveness import NoSuchProcessError, probe_runner, process_start_time

Runner = subprocess.Popen[bytes]


@pytest.fixture
def sleeper() -> Iterator[Runner]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_running_process_with_its_recorded_start_time_is_alive(sleeper: Runner) -> None:
    observation = probe_runner(sleeper.pid, process_start_time(sleeper.pid))
    assert observation.alive is True
    assert observation.reason == "running"


def test_a_reused_pid_is_dead(sleeper: Runner) -> None:
    observation = probe_runner(sleeper.pid, process_start_time(sleeper.pid) - 100.0)
    assert observation.alive is False
    assert observation.reason == "pid_reused"


def test_a_killed_and_reaped_process_is_dead(sleeper: Runner) -> None:
    started = process_start_time(sleeper.pid)
    sleeper.kill()
    sleeper.wait()
    observation = probe_runner(sleeper.pid, started)
    assert (observation.alive, observation.reason) == (False, "no_such_process")
    with pytest.raises(NoSuchProcessError):
        process_start_time(sleeper.pid)


def test_a_zombie_child_killed_but_not_reaped_is_dead(sleeper: Runner) -> None:
    started = process_start_time(sleeper.pid)
    sleeper.kill()
    import time

    time.sleep(0.2)  # let it die; we deliberately do not wait() so it stays a zombie
    observation = probe_runner(sleeper.pid, started)
    assert observation.alive is False
    assert observation.reason == "zombie_process"
