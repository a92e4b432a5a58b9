"""Signed chain heads: every write transaction ends with one, in that same transaction.

A signed head (the ledger's "checkpoint" table holds them) is

    message   = b"recovery-ledger checkpoint v1\\n" || u64be position || u64be event_count
                || head (32 bytes) || signed_at (ASCII, RFC 3339 UTC)
    signature = Ed25519(message), by the installation's ledger signing key

where ``head`` is the hash chain (``chain.py``) over the first ``event_count`` events and
``position`` the notification id of the last of them. Anyone holding the events and the
public key can check it; only the key directory can make one. Because the recorder writes
the head with the events, in one transaction, no committed event is ever outside a
signature, the newest included (docs/integrity.md).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

MESSAGE_PREFIX = b"recovery-ledger checkpoint v1\n"


def head_message(position: int, event_count: int, head: bytes, signed_at: str) -> bytes:
    return (
        MESSAGE_PREFIX
        + struct.pack(">QQ", position, event_count)
        + head
        + signed_at.encode("ascii")
    )


def now_stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class Checkpoint:
    """One signed head, as recorded in the ledger and in the witness file."""

    position: int  # the notification id of the last event covered
    event_count: int
    head: bytes
    signed_at: str
    key_id: str
    signature: bytes

    def message(self) -> bytes:
        return head_message(self.position, self.event_count, self.head, self.signed_at)

    def row(self) -> tuple[int, int, bytes, str, str, bytes]:
        return (
            self.position,
            self.event_count,
            self.head,
            self.signed_at,
            self.key_id,
            self.signature,
        )

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


class HeadSigner(Protocol):
    """What the recorder needs from the key directory."""

    def sign_head(self, position: int, event_count: int, head: bytes) -> Checkpoint: ...

    def committed(self, checkpoint: Checkpoint) -> None:
        """Called after the transaction holding ``checkpoint`` committed (moves the witness)."""
