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

from recovery_ledger.infra.errors import LedgerError
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


class LocalLedgerChanged(LedgerError):
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
    # The next batch is chosen from the latest acknowledgement: another ship of this
    # ledger may have moved it further than this one's last batch.
    while (end := _next_end(heads, ack.count, batch_events)) is not None:
        events = source.events(position, end.position)
        if len(events) != end.event_count - ack.count:
            raise LocalLedgerChanged(
                f"the ledger holds {len(events)} events between positions {position} and "
                f"{end.position}; its checkpoint says {end.event_count - ack.count}"
            )
        newest = end is heads[-1]
        ack = collector.upload(Upload(ack.count, ack.head, tuple(events), end, newest, total))
        shipped += ack.stored
        mine = source.link_at(ack.count) if ack.count != end.event_count else (end.position, b"")
        if mine is None:
            raise LocalLedgerChanged("the collector acknowledged more than this ledger holds")
        position = mine[0]
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


def _next_end(heads: list[Checkpoint], after: int, batch_events: int) -> Checkpoint | None:
    """The checkpoint to end the next batch at: the furthest that keeps it within
    ``batch_events`` (when the first one alone makes it larger, that one: nothing smaller is
    signed); None when every signed event is acknowledged."""
    chosen = None
    for head in heads:
        if head.event_count <= after:
            continue
        if chosen is not None and head.event_count - after > batch_events:
            break
        chosen = head
    return chosen
