"""What ``ship`` reads of the desktop's own ledger: its events in ledger order, its chain
links, and its own signed checkpoints (the heads that cover the events it ships)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner
from recovery_ledger.infra.errors import LedgerUnreadableError
from recovery_ledger.infra.fleet.protocol import ShippedEvent
from recovery_ledger.infra.integrity.checkpoints import recorded_checkpoints
from recovery_ledger.infra.integrity.sql import LedgerSQL
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, GENESIS
from recovery_ledger.infra.store.heads import Checkpoint


class LocalLedger:
    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.sql = LedgerSQL.for_app(app)
        self.signer = CheckpointSigner(app.keys)
        self._id = "e.notification_id" if self.sql.postgres else "e.rowid"

    def signing_key(self) -> Any:
        key = self.signer.existing_key()
        if key is None:
            raise LedgerUnreadableError(
                f"no ledger signing key in {self.app.keys.directory}: ship needs this "
                "installation's key directory (--keys)"
            )
        return key

    def verify(self) -> None:
        from recovery_ledger.infra.integrity.verify import verify_ledger

        report = verify_ledger(self.app)
        if not report.ok:
            first = report.problems[0]["message"]
            raise LedgerUnreadableError(
                f"the local ledger fails verification, nothing shipped ({len(report.problems)} "
                f"problems; first: {first})"
            )

    def total(self) -> int:
        return int(self.sql.query(f"SELECT COUNT(*) FROM {CHAIN_TABLE}")[0][0])

    def link_at(self, count: int) -> tuple[int, bytes] | None:
        """The position and chain link of the ``count``-th event (0: before the first)."""
        if count == 0:
            return 0, GENESIS
        rows = self.sql.query(
            f"SELECT notification_id, chain_hash FROM {CHAIN_TABLE} "
            "ORDER BY notification_id LIMIT 1 OFFSET ?",
            (count - 1,),
        )
        return (int(rows[0][0]), bytes(rows[0][1])) if rows else None

    def heads(self) -> list[Checkpoint]:
        """This installation's signed checkpoints that verify, one per event count."""
        own = self.signer.key_id()
        by_count: dict[int, Checkpoint] = {}
        for checkpoint in recorded_checkpoints(self.app):
            if checkpoint.key_id == own and self.signer.verify(
                checkpoint.message(), checkpoint.signature
            ):
                by_count[checkpoint.event_count] = checkpoint
        return [by_count[count] for count in sorted(by_count)]

    def events(self, after_position: int, up_to_position: int) -> list[ShippedEvent]:
        rows = self.sql.query(
            f"SELECT {self._id}, e.originator_id, e.originator_version, e.topic, e.state "
            f"FROM {self.sql.events_table} e WHERE {self._id} > ? AND {self._id} <= ? "
            f"ORDER BY {self._id}",
            (after_position, up_to_position),
        )
        return [
            ShippedEvent(
                int(position),
                StoredEvent(UUID(str(originator_id)), int(version), str(topic), bytes(state)),
            )
            for position, originator_id, version, topic, state in rows
        ]
