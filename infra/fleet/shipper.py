"""``ship``: send what the collector has not acknowledged, batch by batch, each batch ending
exactly at one of the ledger's own signed checkpoints so the collector can check it.

The collector's acknowledgement is the only bookmark: nothing is kept locally, so any
failure (a refusal, a crash, a timeout) is resumed by simply running ``ship`` again. When
the local ledger no longer holds what the collector acknowledged (restored from an older
copy, wiped, forked), ship still asks: it sends its newest signed head, and the collector,
the witness, refuses and records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from recovery_ledger.infra.fleet.protocol import Acknowledgement, ShippedEvent, Upload
from recovery_ledger.infra.store.heads import Checkpoint

DEFAULT_BATCH_EVENTS = 1000


class ShipSource(Protocol):
    def total(self) -> int: ...
    def link_at(self, count: int) -> tuple[int, bytes] | None: ...
    def heads(self) -> list[Checkpoint]: ...
    def events(self, after_position: int, up_to_position: int) -> list[ShippedEvent]: ...


class Collector(Protocol):
    def position(self) -> Acknowledgement: ...
    def upload(self, upload: Upload) -> Acknowledgement: ...


@dataclass(frozen=True)
class ShipResult:
    shipped: int
    position: int


class LocalLedgerChanged(Exception):
    """The ledger's events do not match its own checkpoint (changed while shipping)."""


def ship(source: ShipSource, collector: Collector, batch_events: int) -> ShipResult:
    ack = collector.position()
    heads = source.heads()
    total = source.total()
    mine = source.link_at(ack.count) if ack.count <= total else None
    if mine is None or mine[1] != ack.head:
        ack = collector.upload(_probe(source, heads, ack, total, mine))
        # The collector accepted a probe: it holds nothing this ledger contradicts.
        mine = source.link_at(ack.count)
        assert mine is not None
    shipped, position = 0, mine[0]
    for end in _batch_ends(heads, ack.count, batch_events):
        events = source.events(position, end.position)
        if len(events) != end.event_count - ack.count:
            raise LocalLedgerChanged(
                f"the ledger holds {len(events)} events between positions {position} and "
                f"{end.position}; its checkpoint says {end.event_count - ack.count}"
            )
        ack = collector.upload(
            Upload(ack.count, ack.head, tuple(events), end, end is heads[-1], total)
        )
        shipped += ack.stored
        position = end.position
    return ShipResult(shipped, ack.position)


def _probe(
    source: ShipSource,
    heads: list[Checkpoint],
    ack: Acknowledgement,
    total: int,
    mine: tuple[int, bytes] | None,
) -> Upload:
    """An upload with no events that states where this ledger stands against the
    collector's acknowledgement; the collector refuses it when the two disagree."""
    newest = heads[-1] if heads else None
    if mine is not None:  # same length or longer, different history
        return Upload(ack.count, mine[1], (), newest, True, total)
    last = source.link_at(total)
    assert last is not None
    return Upload(total, last[1], (), newest, True, total)


def _batch_ends(heads: list[Checkpoint], after: int, batch_events: int) -> list[Checkpoint]:
    """Checkpoints to end batches at: as few as keep each batch within ``batch_events``
    (a batch that one checkpoint alone makes larger is sent whole: nothing smaller is
    signed)."""
    ends: list[Checkpoint] = []
    start = after
    pending: Checkpoint | None = None
    for head in heads:
        if head.event_count <= start:
            continue
        if pending is not None and head.event_count - start > batch_events:
            ends.append(pending)
            start = pending.event_count
        pending = head
    if pending is not None and pending.event_count > start:
        ends.append(pending)
    return ends
