"""``collector readmit``: let an installation refused as rolled back upload again.

The collector refuses a ledger restored behind, or forked from, what it acknowledged
(``rolled_back``): a desktop cannot tell that it was rolled back, the collector can. When
the operator has looked into it, ``collector readmit`` records who let it back in, when,
why, and what was acknowledged then. The installation's next ship sends its history from
the start (the collector answers its position as 0); the collector walks it against what
it holds (``verified_count``) up to the first event where the two differ, or the end of the
ledger's history, and resumes the installation's history there: the acknowledged rows past
that point move to ``fleet_superseded_*`` (its events stay in the collector's ledger, whose
own chain never loses an event), and what the ledger holds past it is stored as usual,
verified as every upload is. Everything happens under the installation's row lock, in the
upload's transaction.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from typing import Any

from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.fleet.enrollment import check_printable, check_thumbprint
from recovery_ledger.infra.store.app import LedgerApp

_MAX_TEXT = 1000


@dataclass(frozen=True)
class Readmission:
    readmission: int
    host_name: str
    acked_count: int
    new: bool  # False: one was already pending, nothing recorded


def readmit(app: LedgerApp, thumbprint: str, reason: str, by: str | None) -> Readmission:
    check_thumbprint(thumbprint)
    who = by if by is not None else _operator()
    check_printable("--reason", reason, _MAX_TEXT)
    check_printable("--by", who, _MAX_TEXT)
    datastore = app.recorder.datastore  # type: ignore[attr-defined]
    s = Identifier(datastore.schema)
    with datastore.get_connection() as conn, conn.transaction():
        row = conn.execute(
            SQL(
                "SELECT i.installation, i.host_name, i.acked_count, i.acked_position, "
                "i.acked_head, r.readmission, (SELECT reason FROM {s}.fleet_refusals AS f "
                "WHERE f.installation = i.installation ORDER BY refusal DESC LIMIT 1) AS last "
                "FROM {s}.fleet_installations AS i LEFT JOIN {s}.fleet_readmissions AS r "
                "ON r.installation = i.installation AND r.resumed_at IS NULL "
                "WHERE i.thumbprint = %s FOR UPDATE OF i"
            ).format(s=s),
            (thumbprint,),
        ).fetchone()
        if row is None:
            raise BadInputError(f"no installation with thumbprint {thumbprint} is enrolled")
        host, acked = str(row["host_name"]), int(row["acked_count"])
        if row["readmission"] is not None:
            return Readmission(int(row["readmission"]), host, acked, False)
        if row["last"] != "rolled_back":
            raise BadInputError(
                f"{host!r} was not refused as rolled back (its last refusal: "
                f"{row['last'] or 'none'}); there is nothing to readmit"
            )
        number = conn.execute(
            SQL(
                "INSERT INTO {s}.fleet_readmissions (installation, by_whom, reason, "
                "acked_count, acked_position, acked_head) VALUES (%s, %s, %s, %s, %s, %s) "
                "RETURNING readmission"
            ).format(s=s),
            (
                row["installation"],
                who,
                reason,
                acked,
                row["acked_position"],
                row["acked_head"],
            ),
        ).fetchone()
    assert number is not None
    return Readmission(int(number["readmission"]), host, acked, True)


def _operator() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in this environment: say so, not who
        return "unknown"


def statements(schema: str) -> dict[str, Any]:
    """The intake's statements for an installation with a readmission pending."""
    s = Identifier(schema)
    texts = {
        "verified": "UPDATE {s}.fleet_readmissions SET verified_count = %s WHERE readmission = %s",
        "supersede_events": "WITH moved AS (DELETE FROM {s}.fleet_events WHERE installation = %s "
        "AND seq > %s RETURNING *) INSERT INTO {s}.fleet_superseded_events (readmission, "
        "installation, seq, source_position, notification_id, source_link) SELECT %s, "
        "installation, seq, source_position, notification_id, source_link FROM moved",
        "supersede_heads": "WITH moved AS (DELETE FROM {s}.fleet_heads WHERE installation = %s "
        "AND event_count > %s RETURNING *) INSERT INTO {s}.fleet_superseded_heads (readmission, "
        "installation, event_count, position, head, signed_at, key_id, signature, received_at) "
        "SELECT %s, installation, event_count, position, head, signed_at, key_id, signature, "
        "received_at FROM moved",
        "resumed": "UPDATE {s}.fleet_readmissions SET resumed_count = %s, resumed_at = now() "
        "WHERE readmission = %s",
        "acked": "UPDATE {s}.fleet_installations SET acked_count = %s, acked_position = %s, "
        "acked_head = %s WHERE installation = %s",
    }
    return {name: SQL(text).format(s=s) for name, text in texts.items()}
