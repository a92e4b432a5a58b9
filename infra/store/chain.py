"""The hash chain over stored events, in ledger order.

    h_0 = 32 zero bytes
    h_i = SHA-256(h_{i-1} || event_i)

where ``event_i`` is a length-prefixed encoding of (originator id, version, topic, state).
The notification id is deliberately not hashed: PostgreSQL sequences have gaps, and an
export imported into an empty ledger must reproduce the very same chain.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)
CHAIN_TABLE = "ledger_chain"
CHECKPOINT_TABLE = "ledger_checkpoints"


@dataclass
class ChainTail:
    """The newest link a transaction has written so far (``head`` None: none yet)."""

    position: int = 0
    head: bytes | None = None


def _canonical_id(originator_id: UUID | str) -> bytes:
    # SQLite hands ids back as bare hex, PostgreSQL as UUIDs: hash one spelling of both.
    if isinstance(originator_id, UUID):  # the write path: no need to parse it again
        return str(originator_id).encode("ascii")
    try:
        return str(UUID(str(originator_id))).encode("ascii")
    except ValueError:
        return str(originator_id).encode("utf-8")


def event_bytes(originator_id: UUID | str, version: int, topic: str, state: bytes) -> bytes:
    ident = _canonical_id(originator_id)
    topic_bytes = topic.encode("utf-8")
    return b"".join(
        (
            struct.pack(">I", len(ident)),
            ident,
            struct.pack(">Q", version),
            struct.pack(">I", len(topic_bytes)),
            topic_bytes,
            struct.pack(">I", len(state)),
            state,
        )
    )


def link(
    previous: bytes, originator_id: UUID | str, version: int, topic: str, state: bytes
) -> bytes:
    return hashlib.sha256(previous + event_bytes(originator_id, version, topic, state)).digest()


_U32 = struct.Struct(">I").pack
_U64_U32 = struct.Struct(">QI").pack


class Linker:
    """``link``, the same bytes with less work when many links are made: a write or an
    import holds a few events of each of many aggregates and a handful of topics, so each
    id's and topic's encoding is made once, and each link is one hash of one buffer."""

    def __init__(self) -> None:
        self._idents: dict[UUID | str, bytes] = {}
        self._topics: dict[str, bytes] = {}

    def link(
        self, previous: bytes, originator_id: UUID | str, version: int, topic: str, state: bytes
    ) -> bytes:
        ident = self._idents.get(originator_id)
        if ident is None:
            canonical = _canonical_id(originator_id)
            ident = self._idents[originator_id] = _U32(len(canonical)) + canonical
        encoded = self._topics.get(topic)
        if encoded is None:
            encoded = self._topics[topic] = topic.encode("utf-8")
        version_and_topic = _U64_U32(version, len(encoded))
        return hashlib.sha256(
            b"".join((previous, ident, version_and_topic, encoded, _U32(len(state)), state))
        ).digest()


def extend(
    head: bytes, ids: Sequence[int], events: Sequence[StoredEvent]
) -> list[tuple[int, bytes]]:
    """The chain entries ``(notification id, link)`` of newly inserted events."""
    linker = Linker()
    links = []
    for notification_id, event in zip(ids, events, strict=True):
        head = linker.link(
            head, event.originator_id, event.originator_version, event.topic, event.state
        )
        links.append((notification_id, head))
    return links
