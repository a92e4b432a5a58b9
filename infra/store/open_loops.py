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
from typing import Any, Protocol
from uuid import UUID

import orjson

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


class OpenLoopIndex(Protocol):
    """What both recorders offer: the open loops' aggregate ids."""

    def open_loop_ids(self, host_id: str | None) -> list[UUID]: ...


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


def _canonical(originator_id: Any) -> str:
    # SQLite stores ids as bare hex, PostgreSQL as UUIDs: one spelling for both.
    return str(originator_id if isinstance(originator_id, UUID) else UUID(str(originator_id)))
