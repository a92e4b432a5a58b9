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


def default_pop_key_path() -> Path:
    """Where the desktop host puts the installation's managed key when it names none:
    the platform's per-user configuration directory (platformdirs), e.g.
    ``~/.config/recovery-ledger/managed_key.pem`` on Linux."""
    from platformdirs import user_config_path

    return user_config_path("recovery-ledger", appauthor=False) / "managed_key.pem"


def resolve_pop_key_path(option: str | None) -> Path | None:
    """The configured managed key (contract section 1): ``--pop-key``, else the env
    ``RECOVERY_LEDGER_POP_KEY``, else a file at the default location; None when none is."""
    value = option or os.environ.get("RECOVERY_LEDGER_POP_KEY")
    if value:
        return Path(value).expanduser()
    default = default_pop_key_path()
    return default if os.path.lexists(default) else None


def load_pop_key(path: Path | None) -> PopKey:
    """PoP is available only when the key exists, is private, readable and parses."""
    from recovery_ledger.infra.crypto.pop_signer import ManagedKey, load_managed_key

    if path is None:
        return PopKey(
            signer=None,
            reason="not_configured",
            message=(
                "no managed key is configured (--pop-key, RECOVERY_LEDGER_POP_KEY or "
                f"{default_pop_key_path()})"
            ),
            configured=False,
        )
    loaded = load_managed_key(path)
    if isinstance(loaded, ManagedKey):
        return PopKey(signer=loaded, reason="available", thumbprint=loaded.thumbprint)
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
