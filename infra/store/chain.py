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
from uuid import UUID

from eventsourcing.persistence import StoredEvent

GENESIS = bytes(32)
CHAIN_TABLE = "ledger_chain"
CHECKPOINT_TABLE = "ledger_checkpoints"


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


def extend(
    head: bytes, ids: Sequence[int], events: Sequence[StoredEvent]
) -> list[tuple[int, bytes]]:
    """The chain entries ``(notification id, link)`` of newly inserted events.

    The same bytes as ``link``, built with less work: a write holds a few events of each of
    many aggregates and a handful of topics, so each id's and topic's encoding is made once
    per call, and each link is one hash of one joined buffer."""
    idents: dict[UUID | str, bytes] = {}
    topics: dict[str, bytes] = {}
    links = []
    for notification_id, event in zip(ids, events, strict=True):
        ident = idents.get(event.originator_id)
        if ident is None:
            canonical = _canonical_id(event.originator_id)
            ident = idents[event.originator_id] = _U32(len(canonical)) + canonical
        topic = topics.get(event.topic)
        if topic is None:
            topic = topics[event.topic] = event.topic.encode("utf-8")
        state = event.state
        version_and_topic = _U64_U32(event.originator_version, len(topic))
        head = hashlib.sha256(
            b"".join((head, ident, version_and_topic, topic, _U32(len(state)), state))
        ).digest()
        links.append((notification_id, head))
    return links
