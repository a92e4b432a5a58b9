"""Signed checkpoints of the hash chain: recorded in the ledger, the newest also kept
outside it (the witness, next to the keys), so that a tail cut off together with its
checkpoints is caught too."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from recovery_ledger.infra.crypto.private_files import write_private_file
from recovery_ledger.infra.integrity.signing import CheckpointSigner
from recovery_ledger.infra.integrity.sql import LedgerSQL
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE

WITNESS_FILE = "witness.json"


@dataclass(frozen=True)
class Checkpoint:
    position: int  # the notification id of the last event covered
    event_count: int
    head: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return checkpoint_message(self.position, self.event_count, self.head, self.signed_at)

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "event_count": self.event_count,
            "head": self.head.hex(),
            "signed_at": self.signed_at,
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Checkpoint:
        return cls(
            int(data["position"]),
            int(data["event_count"]),
            bytes.fromhex(data["head"]),
            str(data["signed_at"]),
            str(data["key_id"]),
            bytes.fromhex(data["signature"]),
        )


def checkpoint_message(position: int, event_count: int, head: bytes, signed_at: str) -> bytes:
    return (
        b"recovery-ledger checkpoint v1\n"
        + struct.pack(">QQ", position, event_count)
        + head
        + signed_at.encode("ascii")
    )


def record_checkpoint(app: LedgerApp) -> Checkpoint | None:
    """Sign the current chain head, record it in the ledger, and update the witness."""
    sql = LedgerSQL.for_app(app)
    head_row = sql.query(
        f"SELECT notification_id, chain_hash FROM {CHAIN_TABLE} "
        "ORDER BY notification_id DESC LIMIT 1"
    )
    if not head_row:
        return None
    position, head = int(head_row[0][0]), bytes(head_row[0][1])
    count = int(sql.query(f"SELECT COUNT(*) FROM {CHAIN_TABLE}")[0][0])
    signed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    signer = CheckpointSigner(app.keys)
    signature, key_id = signer.sign(checkpoint_message(position, count, head, signed_at))
    checkpoint = Checkpoint(position, count, head, signed_at, key_id, signature)
    sql.execute(
        f"INSERT INTO {CHECKPOINT_TABLE} (position, event_count, head, signed_at, key_id, "
        "signature) VALUES (?, ?, ?, ?, ?, ?)",
        (position, count, head, signed_at, key_id, signature),
    )
    write_private_file(app.keys.directory / WITNESS_FILE, json.dumps(checkpoint.to_json()).encode())
    return checkpoint


def read_witness(app: LedgerApp) -> Checkpoint | None:
    path = app.keys.directory / WITNESS_FILE
    try:
        return Checkpoint.from_json(json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def recorded_checkpoints(app: LedgerApp) -> list[Checkpoint]:
    rows = LedgerSQL.for_app(app).query(
        f"SELECT position, event_count, head, signed_at, key_id, signature FROM "
        f"{CHECKPOINT_TABLE} ORDER BY seq"
    )
    return [
        Checkpoint(int(r[0]), int(r[1]), bytes(r[2]), str(r[3]), str(r[4]), bytes(r[5]))
        for r in rows
    ]
