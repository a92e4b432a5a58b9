"""The project's failure kinds. The command line maps each to an exit code in one place
(``infra/cli/exit_codes.py``); everything else only raises these."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every failure the command line reports as one line."""


class BadInputError(LedgerError):
    """Bad usage or bad input; nothing was written (exit 2)."""


class LedgerBusyError(LedgerError):
    """The ledger is held by another boot, or changed under us; nothing written (exit 3)."""


class LedgerUnreadableError(LedgerError):
    """The ledger cannot be read, is not a ledger, or fails verification (exit 4)."""


class TokenUnavailableError(LedgerError):
    """The token cannot be produced: cleared, shredded, or its key is missing (exit 4)."""


class MissingExtraError(LedgerError):
    """This install lacks an optional part the command needs (exit 4)."""


class UploadRefusedError(LedgerError):
    """The collector refused an upload; nothing of it was stored (exit 6)."""


class CollectorUnreachableError(LedgerError):
    """The collector could not be reached or did not answer in time; nothing lost (exit 7)."""
