"""The Installation aggregate: a key directory taking over a ledger whose own keys are lost.

Never a side effect: only ``keys adopt --i-lost-my-keys`` records it, and the event stays
in the ledger for every later reader (``verify`` counts the heads signed before it as
another installation's)."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event


class Installation(Aggregate):
    TOPIC = "rl:Installation@1"

    class Event(Aggregate.Event):
        TOPIC = "rl:Installation.Event@1"

    class Created(Aggregate.Created):
        TOPIC = "rl:Installation.Created@1"

    class KeysAdopted(Aggregate.Created):
        TOPIC = "rl:Installation.KeysAdopted@1"
        key_id: str
        replaced_key_ids: list[str]
        host_id: str
        host_name: str
        events_before: int

    @event(KeysAdopted)
    def __init__(
        self,
        key_id: str,
        replaced_key_ids: list[str],
        host_id: str,
        host_name: str,
        events_before: int,
    ) -> None:
        self.key_id = key_id
        self.replaced_key_ids = replaced_key_ids
        self.host_id = host_id
        self.host_name = host_name
        self.events_before = events_before
