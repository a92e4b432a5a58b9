"""The read commands' shared filters, from the command line to a ``ReadFilter``.

``--boot`` takes a unique prefix of 6+ characters (ambiguous: exit 2 naming the candidates),
``--host`` a host id or name, ``--since``/``--until`` a date or an RFC 3339 time. A filter
that matches nothing is not an error: the command says so on stderr and exits 0.
"""

from __future__ import annotations

import argparse
import re
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.projections.filters import ReadFilter, resolve_boot, resolve_host
from recovery_ledger.projections.rows import BootRow, LoopRow

if TYPE_CHECKING:
    from recovery_ledger.infra.projection_store.store import ProjectionStore
    from recovery_ledger.infra.store.app import LedgerApp

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def parse_time_bound(text: str | None, option: str) -> datetime | None:
    """A date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time with an offset."""
    if text is None:
        return None
    if _DATE.fullmatch(text):
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            pass
    elif _TIME.fullmatch(text):
        try:
            return datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            pass
    raise BadInputError(
        f"{option} must be a date (2026-11-24) or an RFC 3339 time "
        f"(2026-11-24T10:00:00Z), not {text!r}"
    )


def host_names(boots: list[BootRow], loops: list[LoopRow]) -> dict[str, str]:
    """host id -> host name, as the boots recorded it (a host that never booted: its id)."""
    names = {loop.host_id: loop.host_id for loop in loops}
    names.update({boot.host_id: boot.host_name for boot in boots})
    return names


def read_filter(
    args: argparse.Namespace,
    boots: list[BootRow],
    loops: list[LoopRow],
    app: LedgerApp | None = None,
) -> ReadFilter:
    """``app``: the ledger read, so that on a collector's ``--host`` also takes the names
    installations were enrolled under."""
    since = parse_time_bound(getattr(args, "since", None), "--since")
    until = parse_time_bound(getattr(args, "until", None), "--until")
    if since is not None and until is not None and since >= until:
        raise BadInputError("--since must be before --until")
    boot, host = getattr(args, "boot", None), getattr(args, "host", None)
    if boot is not None:
        boot = resolve_boot(boot, (b.boot_id for b in boots))
    if host is not None:
        host = resolve_host(host, host_names(boots, loops), _enrolled(app, boots, loops))
    return ReadFilter(getattr(args, "loop", None), boot, host, since, until)


def _enrolled(
    app: LedgerApp | None, boots: list[BootRow], loops: list[LoopRow]
) -> dict[str, set[str]]:
    if app is None or not app.location.is_postgres:  # a collector's ledger is PostgreSQL
        return {}
    from recovery_ledger.infra.fleet.host_names import enrolled_host_ids

    return enrolled_host_ids(app, boots, loops)


def filter_from_store(args: argparse.Namespace, store: ProjectionStore) -> ReadFilter:
    return read_filter(args, store.boots(), store.loops(), store.app)


def filters_given(args: argparse.Namespace) -> str:
    """The filters as the user typed them, for "nothing matches" lines."""
    words = []
    for option in ("loop", "boot", "host", "since", "until", "state"):
        value = getattr(args, option, None)
        if value is not None:
            words.append(f"--{option} {value}")
    return " ".join(words)


def say_nothing_matches(what: str, args: argparse.Namespace) -> None:
    """One line on stderr (stdout stays a clean, empty table or document); exit 0."""
    from recovery_ledger.infra.cli.output import terminal_safe

    given = filters_given(args)
    said = f"match {terminal_safe(given)}" if given else "in this ledger yet"
    sys.stderr.write(f"recovery-ledger: no {what} {said}\n")
