"""What travels between ``ship`` and the collector: events and the signed head that covers
them, as JSON.

An upload continues the installation's history after ``after_count`` events whose chain
head is ``after_head``; its events are the next ones in ledger order, and ``head`` is the
installation's own signed checkpoint over the chain after the last of them. ``newest``
says that ``head`` is the newest the ledger has (so a head behind what the collector
acknowledged is a rollback, not an old batch). Positions are the desktop ledger's own; the
collector counts events (``count``), which have no gaps.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from recovery_ledger.infra.store.chain import GENESIS
from recovery_ledger.infra.store.heads import Checkpoint

PROTOCOL_VERSION = 1


class ProtocolError(ValueError):
    """A document that is not a well-formed upload or acknowledgement."""


@dataclass(frozen=True)
class ShippedEvent:
    position: int
    stored: StoredEvent

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "originator_id": str(self.stored.originator_id),
            "originator_version": self.stored.originator_version,
            "topic": self.stored.topic,
            "state": base64.b64encode(self.stored.state).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: Any) -> ShippedEvent:
        try:
            return cls(
                _int(data["position"]),
                StoredEvent(
                    originator_id=UUID(str(data["originator_id"])),
                    originator_version=_int(data["originator_version"]),
                    topic=_str(data["topic"]),
                    state=base64.b64decode(_str(data["state"]), validate=True),
                ),
            )
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise ProtocolError("an event is missing fields or malformed") from None


@dataclass(frozen=True)
class Upload:
    after_count: int
    after_head: bytes
    events: tuple[ShippedEvent, ...]
    head: Checkpoint | None  # None only in a probe of an empty ledger
    newest: bool
    local_count: int  # how many events the desktop ledger holds (for the lag metric)

    @property
    def end_count(self) -> int:
        return self.after_count + len(self.events)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": PROTOCOL_VERSION,
            "after": {"count": self.after_count, "head": self.after_head.hex()},
            "events": [event.to_json() for event in self.events],
            "head": None if self.head is None else self.head.to_json(),
            "newest": self.newest,
            "local_count": self.local_count,
        }

    @classmethod
    def from_json(cls, data: Any) -> Upload:
        if not isinstance(data, dict) or data.get("protocol") != PROTOCOL_VERSION:
            raise ProtocolError(f"not an upload of protocol {PROTOCOL_VERSION}")
        try:
            after = data["after"]
            events = data["events"]
            if not isinstance(events, list):
                raise TypeError
            head = data["head"]
            upload = cls(
                _int(after["count"]),
                bytes.fromhex(_str(after["head"])),
                tuple(ShippedEvent.from_json(event) for event in events),
                None if head is None else _checkpoint(head),
                bool(data["newest"]),
                _int(data["local_count"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("the upload is missing fields or malformed") from None
        if len(upload.after_head) != len(GENESIS) or upload.after_count < 0:
            raise ProtocolError("the upload's starting point is malformed")
        if upload.head is None and upload.events:
            raise ProtocolError("events without the signed head that covers them")
        return upload


@dataclass(frozen=True)
class Acknowledgement:
    """What the collector holds of an installation: ``count`` events, the last at the
    desktop's ``position``, chain head ``head``; ``stored`` of them came with this upload."""

    count: int
    position: int
    head: bytes
    stored: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "position": self.position,
            "head": self.head.hex(),
            "stored": self.stored,
        }

    @classmethod
    def from_json(cls, data: Any) -> Acknowledgement:
        try:
            ack = cls(
                _int(data["count"]),
                _int(data["position"]),
                bytes.fromhex(_str(data["head"])),
                _int(data["stored"]),
            )
        except (KeyError, TypeError, ValueError):
            raise ProtocolError("the collector's answer is malformed") from None
        if len(ack.head) != len(GENESIS):
            raise ProtocolError("the collector's answer is malformed")
        return ack


def _checkpoint(data: Any) -> Checkpoint:
    try:
        checkpoint = Checkpoint.from_json(data)
    except (KeyError, TypeError, ValueError):
        raise ProtocolError("the signed head is missing fields or malformed") from None
    if len(checkpoint.head) != len(GENESIS):
        raise ProtocolError("the signed head is malformed")
    return checkpoint


def _int(value: Any) -> int:
    if type(value) is not int:
        raise TypeError("not an integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("not a string")
    return value
