"""docs/contract.md section 5: the one place where failures become exit codes."""

from __future__ import annotations

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

OK = 0
UNEXPECTED = 1
BAD_INPUT = 2
BUSY = 3
UNREADABLE = 4
REPLAY_DIFFERS = 5  # `replay`: a re-derived or what-if decision differs from the recorded one
REFUSED = 6  # `ship`: the collector refused the upload
UNREACHABLE = 7  # `ship`: the collector could not be reached or did not answer in time

_CODES: tuple[tuple[type[LedgerError], int], ...] = (
    (BadInputError, BAD_INPUT),
    (LedgerBusyError, BUSY),
    (LedgerUnreadableError, UNREADABLE),
    (TokenUnavailableError, UNREADABLE),
    (MissingExtraError, UNREADABLE),
    (UploadRefusedError, REFUSED),
    (CollectorUnreachableError, UNREACHABLE),
)


def exit_code_for(error: LedgerError) -> int:
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return UNEXPECTED
