"""``collector enroll``: which installations may upload, and under which host name."""

from __future__ import annotations

import re

from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.store.app import LedgerApp

# RFC 7638 thumbprint: base64url (no padding) of a SHA-256 digest.
_THUMBPRINT = re.compile(r"[A-Za-z0-9_-]{43}")
_MAX_NAME = 253


def check_thumbprint(thumbprint: str) -> None:
    if not _THUMBPRINT.fullmatch(thumbprint):
        raise BadInputError(
            "--thumbprint must be an RFC 7638 thumbprint: 43 base64url characters "
            "(the ledger key's, from `key show` on the desktop)"
        )


def check_printable(option: str, text: str, longest: int) -> None:
    """An operator's text the collector records and shows: 1 to ``longest`` printable
    characters, not only blanks."""
    if not text.strip() or len(text) > longest or not text.isprintable():
        raise BadInputError(f"{option} must be 1 to {longest} printable characters")


def check_enrollment(thumbprint: str, name: str) -> None:
    check_thumbprint(thumbprint)
    check_printable("--name", name, _MAX_NAME)


def enroll(app: LedgerApp, thumbprint: str, name: str) -> bool:
    """True when newly enrolled, False when this very enrollment already existed."""
    check_enrollment(thumbprint, name)
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    schema = Identifier(datastore.schema)
    with datastore.get_connection() as conn, conn.transaction():
        inserted = conn.execute(
            SQL(
                "INSERT INTO {s}.fleet_installations (thumbprint, host_name) VALUES (%s, %s) "
                "ON CONFLICT DO NOTHING"
            ).format(s=schema),
            (thumbprint, name),
        ).rowcount
        if inserted == 1:
            return True
        row = conn.execute(
            SQL(
                "SELECT thumbprint, host_name FROM {s}.fleet_installations "
                "WHERE thumbprint = %s OR host_name = %s"
            ).format(s=schema),
            (thumbprint, name),
        ).fetchall()
    if any(r["thumbprint"] == thumbprint and r["host_name"] == name for r in row):
        return False
    if any(r["thumbprint"] == thumbprint for r in row):
        raise BadInputError("that thumbprint is already enrolled under another host name")
    raise BadInputError(f"the host name {name!r} is already enrolled for another installation")
