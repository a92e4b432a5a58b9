"""The signed heads ("checkpoints") recorded in the ledger, as a verify reads them."""

from __future__ import annotations

from recovery_ledger.infra.integrity.sql import LedgerSQL
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHECKPOINT_TABLE
from recovery_ledger.infra.store.heads import Checkpoint


def recorded_checkpoints(app: LedgerApp) -> list[Checkpoint]:
    rows = LedgerSQL.for_app(app).query(
        f"SELECT position, event_count, head, signed_at, key_id, signature FROM "
        f"{CHECKPOINT_TABLE} ORDER BY seq"
    )
    return [
        Checkpoint(int(r[0]), int(r[1]), bytes(r[2]), str(r[3]), str(r[4]), bytes(r[5]))
        for r in rows
    ]
