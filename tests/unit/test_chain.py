"""The recorder's batched chain (``extend``) gives the very links ``link`` defines, which
``verify`` and ``import`` recompute one event at a time."""

from __future__ import annotations

from uuid import UUID

from eventsourcing.persistence import StoredEvent
from hypothesis import given
from hypothesis import strategies as st

from recovery_ledger.infra.store.chain import GENESIS, extend, link

ids = st.one_of(st.uuids(), st.uuids().map(lambda u: u.hex), st.text(max_size=40))
events = st.lists(
    st.builds(
        StoredEvent,
        originator_id=st.sampled_from([UUID(int=1), UUID(int=2).hex, "not-a-uuid", "é"]) | ids,
        originator_version=st.integers(1, 2**63 - 1),
        topic=st.sampled_from(["rl:Loop.Classified@1", "rl:Boot.Started@1", "rl:é@1"]),
        state=st.binary(max_size=300),
    ),
    max_size=30,
)


@given(events, st.binary(min_size=32, max_size=32))
def test_extend_is_link_after_link(batch: list[StoredEvent], head: bytes) -> None:
    expected, previous = [], head
    for position, event in enumerate(batch, start=7):
        previous = link(
            previous, event.originator_id, event.originator_version, event.topic, event.state
        )
        expected.append((position, previous))
    assert extend(head, range(7, 7 + len(batch)), batch) == expected


def test_the_same_aggregate_under_two_spellings_links_alike() -> None:
    """SQLite hands ids back as hex, PostgreSQL as UUIDs: one batch may hold both."""
    one = StoredEvent(UUID(int=5), 1, "rl:Loop.Classified@1", b"{}")
    other = StoredEvent(UUID(int=5).hex, 1, "rl:Loop.Classified@1", b"{}")
    assert extend(GENESIS, [1], [one]) == extend(GENESIS, [1], [other])
