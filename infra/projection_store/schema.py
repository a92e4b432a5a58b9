"""The projection tables, in the ledger's own database, derived from the row dataclasses."""

from __future__ import annotations

import dataclasses
from typing import Any

from recovery_ledger.infra.projection_store.codec import column_type
from recovery_ledger.projections.rows import BootRow, DecisionRow, LoopRow
from recovery_ledger.projections.zombies import Finding

TRACKING = "rl_projection_tracking"
TRACKING_NAME = "read_models"
PENDING_HEARTBEAT = "heartbeat_begun = 1 AND heartbeat_answered = 0"


@dataclasses.dataclass(frozen=True)
class Table:
    name: str
    kind: type[Any]
    key: tuple[str, ...]

    @property
    def columns(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self.kind)]

    def create(self) -> str:
        cols = ", ".join(f"{f.name} {column_type(f)}" for f in dataclasses.fields(self.kind))
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} ({cols}, PRIMARY KEY ({', '.join(self.key)}))"
        )

    def upsert(self) -> str:
        names = self.columns
        updates = ", ".join(f"{c} = excluded.{c}" for c in names if c not in self.key)
        marks = ", ".join("?" for _ in names)
        return (
            f"INSERT INTO {self.name} ({', '.join(names)}) VALUES ({marks}) "
            f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {updates}"
        )


LOOPS = Table("rl_loops", LoopRow, ("aggregate_id",))
DECISIONS = Table("rl_decisions", DecisionRow, ("boot_id", "aggregate_id"))
BOOTS = Table("rl_boots", BootRow, ("boot_id",))
FINDINGS = Table("rl_findings", Finding, ("kind", "boot_id", "loop_id"))
TABLES = (LOOPS, DECISIONS, BOOTS, FINDINGS)


def create_statements() -> list[str]:
    return [
        *(table.create() for table in TABLES),
        f"CREATE TABLE IF NOT EXISTS {TRACKING} (name TEXT PRIMARY KEY, position BIGINT)",
        f"CREATE INDEX IF NOT EXISTS rl_decisions_observed ON {DECISIONS.name} (observed_at)",
        f"CREATE INDEX IF NOT EXISTS rl_decisions_loop ON {DECISIONS.name} (loop_id)",
        # Heartbeats still waiting for an answer: looked up at every new boot, and rare.
        f"CREATE INDEX IF NOT EXISTS rl_decisions_pending ON {DECISIONS.name} (boot_id) "
        f"WHERE {PENDING_HEARTBEAT}",
    ]
