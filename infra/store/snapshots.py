"""Loop snapshots, so that reading an open loop costs the same at any age of the ledger.

A boot loads every open loop of its host. Each boot adds four to six events to each of them,
so a loop that lives for a year of daily boots has ~1,500, and folding them all made a
20-loop boot 2.3x slower after 365 boots and 4.8x after 1,000 (docs/performance.md). With a
snapshot every ``EVERY`` versions a loop is read as its newest snapshot plus at most
``EVERY - 1`` events.

- Taken from the aggregates a save has just recorded, in memory (no re-read), when a loop
  crosses a multiple of ``EVERY``; all of one save's snapshots in one write, after the
  events' transaction. A snapshot is derived: one lost to a crash, or never written because
  the disk filled, only means a longer read next time, so its failure never fails a command
  whose events are committed.
- Sealed: a stored snapshot carries an HMAC-SHA256 over its aggregate id, version, topic and
  state, keyed by HKDF from the ledger's signing key (the key directory, never the ledger). A
  snapshot whose seal does not verify, or read without the key directory, is never used: the
  loop is folded from its events, which the hash chain covers. So editing the ledger file
  cannot steer a boot through a snapshot (docs/integrity.md).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, PersistenceError, StoredEvent

EVERY = 100
TABLE = "ledger_snapshots"
_MAC_SIZE = 32


def snapshot_due(version: int, new_events: int) -> bool:
    """Whether an aggregate that just recorded ``new_events`` up to ``version`` crossed a
    multiple of ``EVERY``."""
    return new_events > 0 and (version - new_events) // EVERY < version // EVERY


def snapshot_mac_key(private_key: Any) -> bytes:
    """The snapshots' MAC key, derived from the ledger's Ed25519 signing key."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return HKDF(hashes.SHA256(), 32, salt=None, info=b"recovery-ledger snapshots v1").derive(raw)


def _mac(key: bytes, stored: StoredEvent, state: bytes) -> bytes:
    originator = stored.originator_id
    identity = originator.bytes if isinstance(originator, UUID) else UUID(str(originator)).bytes
    message = b"".join(
        (
            identity,
            struct.pack(">Q", stored.originator_version),
            struct.pack(">I", len(stored.topic)),
            stored.topic.encode(),
            state,
        )
    )
    return hmac.new(key, message, hashlib.sha256).digest()


class SealedSnapshots(AggregateRecorder):
    """The snapshot table's recorder, sealing what it writes and dropping what fails its seal.

    ``mac_key`` is called on first use, so a command that reads no loop never loads the
    signing key; it returns None while the key directory holds none (then nothing is
    written and nothing read: every loop is folded from its events)."""

    def __init__(self, inner: AggregateRecorder, mac_key: Callable[[], bytes | None]) -> None:
        self._inner = inner
        self._mac_key = mac_key
        self._key: bytes | None = None

    def _key_or_none(self) -> bytes | None:
        if self._key is None:  # asked again until there is one: a new ledger makes it late
            self._key = self._mac_key()
        return self._key

    def can_check(self) -> bool:
        """Whether a snapshot read now could be checked (else none is worth reading)."""
        return self._key_or_none() is not None

    def verified(self, row: StoredEvent) -> StoredEvent | None:
        """The snapshot of a stored (sealed) row, or None when its seal does not verify."""
        key = self._key_or_none()
        if key is None:
            return None
        seal, state = row.state[:_MAC_SIZE], row.state[_MAC_SIZE:]
        stored = StoredEvent(row.originator_id, row.originator_version, row.topic, state)
        return stored if hmac.compare_digest(seal, _mac(key, stored, state)) else None

    def insert_events(
        self, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        key = self._key_or_none()
        if key is None or not stored_events:
            return None
        sealed = [
            StoredEvent(
                s.originator_id, s.originator_version, s.topic, _mac(key, s, s.state) + s.state
            )
            for s in stored_events
        ]
        try:
            return self._inner.insert_events(sealed, **kwargs)
        except PersistenceError:
            return None  # derived data: the events are committed; the next crossing retries

    def select_events(
        self,
        originator_id: Any,
        *,
        gt: int | None = None,
        lte: int | None = None,
        desc: bool = False,
        limit: int | None = None,
    ) -> Sequence[StoredEvent]:
        key = self._key_or_none()
        if key is None:
            return []
        try:
            rows = self._inner.select_events(originator_id, gt=gt, lte=lte, desc=desc, limit=limit)
        except PersistenceError:
            return []  # a read-only ledger written before snapshots: no table to read
        return [stored for stored in map(self.verified, rows) if stored is not None]
