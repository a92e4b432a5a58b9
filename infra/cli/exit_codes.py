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

# Every failure the command line reports in one line: the infra's and the domain's roots.
Failure = LedgerError | DomainError

_CODES: tuple[tuple[type[Failure], int], ...] = (
    (BadInputError, BAD_INPUT),
    # What the domain refuses is bad input: nothing was recorded.
    (LoopRefusal, BAD_INPUT),
    (UnknownPolicyError, BAD_INPUT),
    (UnknownProvenanceError, BAD_INPUT),
    (MalformedTokenError, BAD_INPUT),
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
