"""``verify`` on a collector's ledger: each installation's history on its own.

For every installation that has uploaded: its events, in its own order (``seq`` 1, 2, …
with no gap), must chain from genesis to the links it shipped; every head it shipped must be
signed by its enrolled key and equal the recomputed chain at that count and position; the
acknowledgement must be the last of them. An event edited, removed or moved in the
collector's database, or a head forged there, fails here even though the collector's own
chain (checked by ``verify_ledger``) was recomputed by whoever edited it.
"""

from __future__ import annotations

import json
from typing import Any

from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.integrity.verify import VerifyReport
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import GENESIS, link
from recovery_ledger.infra.store.heads import Checkpoint

PAGE = 5000


def verify_installations(app: LedgerApp, report: VerifyReport) -> list[dict[str, Any]]:
    """Adds each installation's problems to ``report``; returns a summary per installation."""
    datastore: Any = app.recorder.datastore  # type: ignore[attr-defined]
    schema = Identifier(datastore.schema)
    events_table = Identifier(app.recorder.events_table_name)  # type: ignore[attr-defined]
    with datastore.get_connection() as conn:
        installations = conn.execute(
            SQL(
                "SELECT installation, host_name, public_jwk, acked_count, acked_head "
                "FROM {s}.fleet_installations ORDER BY host_name"
            ).format(s=schema)
        ).fetchall()
        summaries = []
        for row in installations:
            check = _Installation(row, report)
            check.heads(
                conn.execute(
                    SQL(
                        "SELECT event_count, position, head, signed_at, key_id, signature "
                        "FROM {s}.fleet_heads WHERE installation = %s"
                    ).format(s=schema),
                    (row["installation"],),
                ).fetchall()
            )
            after = 0
            while True:
                page = conn.execute(
                    SQL(
                        "SELECT f.seq, f.source_position, f.source_link, e.originator_id, "
                        "e.originator_version, e.topic, e.state FROM {s}.fleet_events f "
                        "LEFT JOIN {s}.{e} e ON e.notification_id = f.notification_id "
                        "WHERE f.installation = %s AND f.seq > %s ORDER BY f.seq LIMIT %s"
                    ).format(s=schema, e=events_table),
                    (row["installation"], after, PAGE),
                ).fetchall()
                for event in page:
                    check.event(event)
                if len(page) < PAGE:
                    break
                after = int(page[-1]["seq"])
            summaries.append(check.finish())
    return summaries


class _Installation:
    def __init__(self, row: Any, report: VerifyReport) -> None:
        self.host = str(row["host_name"])
        self.report = report
        self.acked = (int(row["acked_count"]), bytes(row["acked_head"]))
        jwk = row["public_jwk"]
        self.public_key = None if jwk is None else _public_key(jwk)
        self.expected: dict[int, Checkpoint] = {}
        self.seq, self.link, self.heads_checked = 0, GENESIS, 0

    def problem(self, kind: str, message: str, **where: Any) -> None:
        self.report.problem(kind, f"installation {self.host!r}: {message}", host=self.host, **where)

    def heads(self, rows: list[Any]) -> None:
        for row in rows:
            head = Checkpoint(
                int(row["position"]),
                int(row["event_count"]),
                bytes(row["head"]),
                str(row["signed_at"]),
                str(row["key_id"]),
                bytes(row["signature"]),
            )
            if self.public_key is None or not _verifies(self.public_key, head):
                self.problem(
                    "fleet_bad_signature",
                    f"the head at event {head.event_count} is not signed by its enrolled key",
                    seq=head.event_count,
                )
            self.expected[head.event_count] = head

    def event(self, row: Any) -> None:
        seq = int(row["seq"])
        if seq != self.seq + 1:
            self.problem("fleet_gap", f"its events jump from {self.seq} to {seq}", seq=seq)
        self.seq = seq
        if row["originator_id"] is None:
            self.problem("fleet_event_missing", f"its event {seq} is gone", seq=seq)
            self.link = bytes(row["source_link"])
            return
        self.link = link(
            self.link,
            row["originator_id"],
            int(row["originator_version"]),
            str(row["topic"]),
            bytes(row["state"]),
        )
        if self.link != bytes(row["source_link"]):
            self.problem(
                "fleet_chain_mismatch",
                f"its event {seq} is not the one it shipped (edited, moved or replaced)",
                seq=seq,
            )
        head = self.expected.get(seq)
        if head is not None:
            self.heads_checked += 1
            if head.head != self.link or head.position != int(row["source_position"]):
                self.problem(
                    "fleet_head_mismatch",
                    f"its history up to event {seq} no longer matches the head it signed",
                    seq=seq,
                )

    def finish(self) -> dict[str, Any]:
        count, head = self.acked
        if (self.seq, self.link) != (count, head) and count:
            self.problem(
                "fleet_acknowledgement_mismatch",
                f"the collector acknowledged {count} events; {self.seq} are stored",
            )
        if self.seq and self.seq not in self.expected:
            self.problem(
                "fleet_unsigned_tail",
                f"its newest event ({self.seq}) is under no head it signed",
                seq=self.seq,
            )
        return {"host": self.host, "events": self.seq, "heads_checked": self.heads_checked}


def _public_key(jwk: Any) -> Any:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = jwk if isinstance(jwk, dict) else json.loads(jwk)
    x = str(data.get("x", ""))
    try:
        return Ed25519PublicKey.from_public_bytes(base64.urlsafe_b64decode(x + "=" * (-len(x) % 4)))
    except ValueError:
        return None


def _verifies(public_key: Any, head: Checkpoint) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public_key.verify(head.signature, head.message())
    except (InvalidSignature, ValueError):
        return False
    return True
