"""The open-loop index: every loop registered and not yet finalized, with its host.

The recorders keep it in the same transaction as the events (``recorders.py``,
``postgres_recorders.py``), so it can never disagree with the ledger: a boot reads its open
loops from here and never replays, or even reads, the history of a loop finalized long ago.
A ledger written before the index existed gets it filled once, from its events, in the
transaction that creates it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol
from uuid import UUID

import orjson
from eventsourcing.persistence import StoredEvent

OPEN_LOOPS_TABLE = "ledger_open_loops"
# The topics are stable forever (the golden ledger test): written out here so that keeping
# the index does not import the domain model into every command that opens the ledger.
REGISTERED_TOPIC = "rl:Loop.Registered@1"
FINALIZED_TOPIC = "rl:Loop.Finalized@1"
INDEX_TOPICS = (REGISTERED_TOPIC, FINALIZED_TOPIC)

# ``position``: the notification id of the registration, so loops come in registration order.
CREATE_COLUMNS = (
    "aggregate_id TEXT PRIMARY KEY, position BIGINT NOT NULL, loop_id TEXT NOT NULL, "
    "host_id TEXT NOT NULL"
)


class LoopHistory(NamedTuple):
    """What reading an open loop takes: its newest snapshot (sealed: not yet checked), if
    any, and its events after that snapshot's version (every event when there is none)."""

    aggregate_id: UUID
    snapshot: StoredEvent | None
    events: list[StoredEvent]


class OpenLoopIndex(Protocol):
    """What both recorders offer: the open loops' aggregate ids, and their histories."""

    def open_loop_ids(self, host_id: str | None) -> list[UUID]: ...

    def open_loop_histories(
        self, host_id: str | None, snapshots_table: str | None
    ) -> list[LoopHistory]:
        """Every open loop's history in one statement, so one consistent read; without a
        snapshots table, every event of every open loop."""
        ...


@dataclass
class IndexChanges:
    """What a batch of stored events changes in the index, in statement form."""

    opened: list[tuple[str, int, str, str]] = field(default_factory=list)
    closed: list[tuple[str]] = field(default_factory=list)

    def add(self, position: int, originator_id: Any, topic: str, state: bytes) -> None:
        if topic == REGISTERED_TOPIC:
            fields = orjson.loads(state)
            self.opened.append(
                (_canonical(originator_id), position, fields["loop_id"], fields["host_id"])
            )
        elif topic == FINALIZED_TOPIC:
            self.closed.append((_canonical(originator_id),))

    def statements(
        self, mark: str, table: str = OPEN_LOOPS_TABLE
    ) -> list[tuple[str, Sequence[tuple[Any, ...]]]]:
        """(statement, rows) pairs to run with ``executemany``, in order. A loop's
        registration always precedes its finalization, so inserting before deleting is
        right even when both are in one batch (an import)."""
        # Table and placeholder are this module's constants, never input: S608 does not apply.
        found: list[tuple[str, Sequence[tuple[Any, ...]]]] = []
        if self.opened:
            insert = (
                f"INSERT INTO {table} (aggregate_id, position, loop_id, host_id) "  # noqa: S608
                f"VALUES ({mark}, {mark}, {mark}, {mark}) ON CONFLICT (aggregate_id) DO NOTHING"
            )
            found.append((insert, self.opened))
        if self.closed:
            delete = f"DELETE FROM {table} WHERE aggregate_id = {mark}"  # noqa: S608
            found.append((delete, self.closed))
        return found


def changes_of(events: Iterable[tuple[int, Any, str, bytes]]) -> IndexChanges:
    """The index changes of (notification id, originator id, topic, state) rows."""
    changes = IndexChanges()
    for position, originator_id, topic, state in events:
        if topic in INDEX_TOPICS:  # most events are neither: no call for them
            changes.add(position, originator_id, topic, bytes(state))
    return changes


def select_open_loops(mark: str, table: str = OPEN_LOOPS_TABLE) -> str:
    """Open loops in registration order, of one host (``host_id = mark``) or of all hosts
    (the parameter is NULL)."""
    return (
        f"SELECT aggregate_id FROM {table} "  # noqa: S608 - constants, never input
        f"WHERE CAST({mark} AS TEXT) IS NULL OR host_id = {mark} ORDER BY position"
    )


def select_open_loop_histories(
    mark: str,
    stored_id: str,
    events_table: str,
    snapshots_table: str | None,
    table: str = OPEN_LOOPS_TABLE,
) -> str:
    """Rows of (aggregate id, kind, version, topic, state, position), kind 0 for a loop's newest
    snapshot and 1 for its events after that snapshot, ordered loop by loop in registration
    order. ``stored_id`` spells ``o.aggregate_id`` as the event tables store ids. One
    statement, so a snapshot and the events after it come from one view of the ledger even
    where each statement sees its own (PostgreSQL's READ COMMITTED)."""
    # Tables and marks are the recorders' constants, never input: S608 does not apply.
    opened = (
        f"SELECT aggregate_id, position, {stored_id} AS stored_id FROM {table} o "  # noqa: S608
        f"WHERE CAST({mark} AS TEXT) IS NULL OR host_id = {mark}"
    )
    if snapshots_table is None:
        return (
            f"WITH o AS ({opened}) "  # noqa: S608
            "SELECT o.aggregate_id, 1 AS kind, e.originator_version, e.topic, e.state, "
            f"o.position FROM o JOIN {events_table} e ON e.originator_id = o.stored_id "
            "ORDER BY o.position, e.originator_version"
        )
    return (
        f"WITH o AS ({opened}), s AS ("  # noqa: S608
        "SELECT o.aggregate_id, o.position, n.originator_version, n.topic, n.state "
        f"FROM o JOIN {snapshots_table} n ON n.originator_id = o.stored_id "
        "WHERE n.originator_version = (SELECT MAX(originator_version) "
        f"FROM {snapshots_table} WHERE originator_id = o.stored_id)) "
        "SELECT aggregate_id, 0 AS kind, originator_version, topic, state, position FROM s "
        "UNION ALL "
        "SELECT o.aggregate_id, 1, e.originator_version, e.topic, e.state, o.position "
        "FROM o LEFT JOIN s ON s.aggregate_id = o.aggregate_id "
        f"JOIN {events_table} e ON e.originator_id = o.stored_id "
        "AND e.originator_version > COALESCE(s.originator_version, 0) "
        "ORDER BY 6, 2, 3"
    )


def histories_of(rows: Iterable[Sequence[Any]]) -> list[LoopHistory]:
    """The rows of ``select_open_loop_histories``, gathered loop by loop."""
    histories: list[LoopHistory] = []
    current = ""
    for aggregate_id, kind, version, topic, state, _ in rows:
        if aggregate_id != current:
            current = aggregate_id
            histories.append(LoopHistory(UUID(aggregate_id), None, []))
        stored = StoredEvent(histories[-1].aggregate_id, version, topic, bytes(state))
        if kind == 0:
            histories[-1] = histories[-1]._replace(snapshot=stored)
        else:
            histories[-1].events.append(stored)
    return histories


def _canonical(originator_id: Any) -> str:
    # SQLite stores ids as bare hex, PostgreSQL as UUIDs: one spelling for both.
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))
