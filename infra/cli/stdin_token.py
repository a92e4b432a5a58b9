"""Runner tokens arrive on stdin, never on the command line (argv is visible to all users)."""

from __future__ import annotations

import sys

from recovery_ledger.domain.runner_token import MAX_TOKEN_BYTES as _MAX_TOKEN_BYTES
from recovery_ledger.infra.errors import BadInputError


def read_token_from_stdin() -> str:
    """The raw token on stdin; ``bootstrap`` holds it to the rules of a runner token."""
    if sys.stdin is None or sys.stdin.isatty():
        raise BadInputError("the runner token must come on stdin (e.g. `... < token.jwt`)")
    raw = sys.stdin.buffer.read(_MAX_TOKEN_BYTES + 1)
    if len(raw) > _MAX_TOKEN_BYTES:
        raise BadInputError(f"token on stdin is larger than {_MAX_TOKEN_BYTES} bytes")
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadInputError("token on stdin is not ASCII; a JWT is") from None
    if not text:
        raise BadInputError("no token on stdin")
    return text
