"""docs/contract.md section 5: the one place where failures become exit codes."""

from __future__ import annotations

from recovery_ledger.domain.errors import (
    DomainError,
    LoopRefusal,
    MalformedTokenError,
    UnknownPolicyError,
    UnknownProvenanceError,
)
from recovery_ledger.infra.errors import (
    BadInputError,
    CollectorUnreachableError,
    LedgerBusyError,
    LedgerError,
    LedgerUnreadableError,
    MissingExtraError,
    TokenUnavailableError,
    UploadRefusedError,
)
from recovery_ledger.projections.errors import FilterError, ProjectionError

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
BUSY = 3
UNREADABLE = 4
# Ended by a signal (docs/reliability.md): the shell's 128 + signal number, never 1.
INTERRUPTED = {"SIGINT": 130, "SIGTERM": 143}
REPLAY_DIFFERS = 5  # `replay`: a re-derived or what-if decision differs from the recorded one
REFUSED = 6  # `ship`: the collector refused the upload
UNREACHABLE = 7  # `ship`: the collector could not be reached or did not answer in time

# Every failure the command line reports in one line: the root of each layer.
Failure = LedgerError | DomainError | ProjectionError

_CODES: tuple[tuple[type[Failure], int], ...] = (
    (BadInputError, BAD_INPUT),
    # What the domain refuses is bad input: nothing was recorded.
    (LoopRefusal, BAD_INPUT),
    (UnknownPolicyError, BAD_INPUT),
    (UnknownProvenanceError, BAD_INPUT),
    (MalformedTokenError, BAD_INPUT),
    (FilterError, BAD_INPUT),
    (LedgerBusyError, BUSY),
    (LedgerUnreadableError, UNREADABLE),
    (TokenUnavailableError, UNREADABLE),
    (MissingExtraError, UNREADABLE),
    (UploadRefusedError, REFUSED),
    (CollectorUnreachableError, UNREACHABLE),
)


def exit_code_for(error: Failure) -> int:
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
