"""The read commands' shared filters (docs/contract.md section 5, "read commands"). Pure.

A boot is picked by any unique prefix of its id (at least 6 characters); a host by its id
or its name. A filter that matches nothing is not an error: it admits nothing, and the
command says so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_ledger.projections.errors import FilterError
from recovery_ledger.projections.rows import BootRow, DecisionRow, LoopRow

MIN_BOOT_PREFIX = 6
SHORT_ID = 8


def short_id(boot_id: str) -> str:
    return boot_id[:SHORT_ID]


def resolve_boot(prefix: str, boot_ids: Iterable[str]) -> str:
    """The one boot id starting with ``prefix``; ``prefix`` itself when none does."""
    wanted = prefix.strip().lower()
    ids = list(boot_ids)
    if wanted in ids:
        return wanted
    if len(wanted) < MIN_BOOT_PREFIX:
        raise FilterError(
            f"--boot needs the full id or a prefix of at least {MIN_BOOT_PREFIX} characters, "
            f"not {prefix!r}"
        )
    found = sorted(b for b in ids if b.startswith(wanted))
    if len(found) > 1:
        raise FilterError(f"--boot {prefix!r} is ambiguous: it matches {', '.join(found)}")
    return found[0] if found else wanted


def resolve_host(
    text: str, hosts: Mapping[str, str], enrolled: Mapping[str, Collection[str]] | None = None
) -> str:
    """The host id named by ``text``, an id or a name (``hosts``: id -> name as the boots
    recorded it; ``enrolled``: a collector's enrolled name -> host ids); ``text`` itself
    when nothing matches."""
    if text in hosts:
        return text
    named = sorted(
        {host_id for host_id, name in hosts.items() if name == text}
        | set((enrolled or {}).get(text, ()))
    )
    if len(named) > 1:
        raise FilterError(
            f"--host {text!r} names {len(named)} hosts; give one id: {', '.join(named)}"
        )
    return named[0] if named else text


@dataclass(frozen=True)
class ReadFilter:
    """What a read command keeps. Times bound the boot's start (half open,
    ``[since, until)``); for a loop, the span from registration to its last event."""

    loop: str | None = None
    boot: str | None = None
    host: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.loop, self.boot, self.host, self.since, self.until))

    def admits_time(self, at: datetime) -> bool:
        if self.since is not None and at < self.since:
            return False
        return self.until is None or at < self.until

    def admits_boot(self, boot: BootRow) -> bool:
        if self.boot is not None and boot.boot_id != self.boot:
            return False
        if self.host is not None and boot.host_id != self.host:
            return False
        return self.admits_time(boot.started_at)

    def admits_decision(self, row: DecisionRow, boot: BootRow | None) -> bool:
        if self.loop is not None and row.loop_id != self.loop:
            return False
        if boot is None:
            return self.boot in (None, row.boot_id) and self.host is None
        return self.admits_boot(boot)

    def admits_loop(self, loop: LoopRow) -> bool:
        if self.loop is not None and loop.loop_id != self.loop:
            return False
        if self.host is not None and loop.host_id != self.host:
            return False
        if self.since is not None and loop.updated_at < self.since:
            return False
        return self.until is None or loop.registered_at < self.until


BUCKETS = ("day", "week", "month")


def bucket_of(at: datetime, by: str) -> str:
    """The time bucket (UTC) a moment falls in: ``2026-11-25``, ``2026-W48``, ``2026-11``."""
    utc = at.astimezone(UTC)
    if by == "day":
        return utc.strftime("%Y-%m-%d")
    if by == "week":
        year, week, _ = utc.isocalendar()
        return f"{year}-W{week:02d}"
    if by == "month":
        return utc.strftime("%Y-%m")
    raise FilterError(f"--by must be one of {', '.join(BUCKETS)}, not {by!r}")
