"""docs/contract.md section 5: the one place where failures become exit codes."""

from __future__ import annotations

from recovery_ledger.infra.errors import (
    BadInputError,
    LedgerBusyError,
    LedgerError,
    LedgerUnreadableError,
    TokenUnavailableError,
)

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
BUSY = 3
UNREADABLE = 4
REPLAY_DIFFERS = 5  # `replay`: a re-derived or what-if decision differs from the recorded one

_CODES: tuple[tuple[type[LedgerError], int], ...] = (
    (BadInputError, BAD_INPUT),
    (LedgerBusyError, BUSY),
    (LedgerUnreadableError, UNREADABLE),
    (TokenUnavailableError, UNREADABLE),
)


def exit_code_for(error: LedgerError) -> int:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return UNEXPECTED


def environment_fault(error: BaseException) -> str | None:
    """One line for a fault of the machine rather than of the code (disk full, read-only
    file, corrupt page, a dropped database connection): exit 4, never 1. None otherwise."""
    import sqlite3
    import sys

    from eventsourcing.persistence import MapperDeserialisationError, PersistenceError

    if isinstance(error, MapperDeserialisationError):
        return "an event in the ledger cannot be decoded (damaged or edited); run `verify`"
    kinds: tuple[type[BaseException], ...] = (OSError, sqlite3.Error, PersistenceError)
    psycopg = sys.modules.get("psycopg")  # only loaded for a PostgreSQL ledger
    if psycopg is not None:
        kinds += (psycopg.Error,)
    if not isinstance(error, kinds):
        return None
    text = str(error).strip()
    first = text.splitlines()[0] if text else type(error).__name__
    return f"the ledger's storage failed: {first}"
