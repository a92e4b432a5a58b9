"""Is the runner alive? psutil on every platform (no ``os.kill(pid, 0)``, which is
POSIX-only and says nothing about a reused pid).

Alive means: the pid exists, is not a zombie, and its start time equals the one
recorded at registration. psutil reports ``create_time`` as a float derived from
boot time and clock ticks, stable across calls for the same process; we compare
with a 10 ms tolerance to absorb float rounding, far below the 1 s granularity a
reused pid would need to collide on.
"""

from __future__ import annotations

import psutil

from recovery_ledger.domain.observations import LivenessObservation
from recovery_ledger.infra.errors import LedgerError

_TOLERANCE_S = 0.01


class NoSuchProcessError(LedgerError):
    pass


def process_start_time(pid: int) -> float:
    """The process's start time, recorded at registration (raises NoSuchProcessError)."""
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.NoSuchProcess, psutil.ZombieProcess, ValueError):
        raise NoSuchProcessError(f"no process with pid {pid}") from None


def probe_runner(pid: int, recorded_start_time: float) -> LivenessObservation:
    try:
        process = psutil.Process(pid)
        started = float(process.create_time())
        if process.status() == psutil.STATUS_ZOMBIE:
            return LivenessObservation(False, "zombie_process", started)
    except psutil.ZombieProcess:
        return LivenessObservation(False, "zombie_process")
    except psutil.NoSuchProcess:
        return LivenessObservation(False, "no_such_process")
    except psutil.AccessDenied:
        # Contract section 4.1: unreadable liveness counts as alive, with the reason recorded.
        return LivenessObservation(True, "access_denied")
    if abs(started - recorded_start_time) > _TOLERANCE_S:
        return LivenessObservation(False, "pid_reused", started)
    return LivenessObservation(True, "running", started)
