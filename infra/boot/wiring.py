"""Wires the real adapters into the boot service: the one place that knows them all."""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from recovery_ledger.domain.observations import LivenessObservation
from recovery_ledger.infra.boot.ports import PopKey


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class PsutilProbe:
    def probe(self, pid: int, recorded_start_time: float) -> LivenessObservation:
        from recovery_ledger.infra.boot.liveness import probe_runner

        return probe_runner(pid, recorded_start_time)


def resolve_pop_key_path(option: str | None, keys_dir: Path) -> Path:
    value = option or os.environ.get("RECOVERY_LEDGER_POP_KEY")
    return Path(value).expanduser() if value else keys_dir / "managed_key.pem"


def load_pop_key(path: Path) -> PopKey:
    """PoP is available only when the key exists, is private, readable and parses."""
    from recovery_ledger.infra.crypto.pop_signer import ManagedKey, load_managed_key

    loaded = load_managed_key(path)
    if isinstance(loaded, ManagedKey):
        return PopKey(signer=loaded, reason="available")
    return PopKey(signer=None, reason=loaded.reason, message=loaded.message)


class TerminalProgress:
    """Progress on a terminal when a boot takes more than a moment; never on a pipe."""

    def __init__(self, delay_s: float = 0.5) -> None:
        self.enabled = sys.stderr.isatty()
        self.started = time.monotonic()
        self.delay_s = delay_s
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or time.monotonic() - self.started < self.delay_s:
            return
        self.shown = True
        sys.stderr.write(f"\rexamining loops: {done}/{total}")
        sys.stderr.flush()

    def finish(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()
