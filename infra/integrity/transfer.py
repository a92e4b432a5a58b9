"""Export of stored events as JSON Lines, ids, order and chain kept (``importer.py`` reads
them back).

One line per stored event: its position (notification id), originator id, version, stable
topic, the stored state (base64 of the exact bytes: tokens in it stay sealed), and the chain
link before and after it. Each line's link can be checked on its own
(``chain_hash == H(prev_chain_hash || event)``); a full export is also checked for
continuity from genesis.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any
from uuid import UUID

from recovery_ledger.infra.integrity.sql import LedgerSQL, stored_bytes
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, GENESIS

PAGE = 5000


def export_lines(app: LedgerApp, aggregate_id: UUID | None = None) -> Iterator[str]:
    sql = LedgerSQL.for_app(app)
    id_column = "e.notification_id" if sql.postgres else "e.rowid"
    where = f"{id_column} > ?"
    extra: tuple[Any, ...] = ()
    if aggregate_id is not None:
        where += " AND e.originator_id = ?"
        extra = (aggregate_id if sql.postgres else aggregate_id.hex,)
    scope = "ledger" if aggregate_id is None else "loop"
    position = 0
    previous: dict[int, bytes] = {}
    while True:
        rows = sql.query(
            f"SELECT {id_column}, e.originator_id, e.originator_version, e.topic, e.state, "
            f"c.chain_hash, (SELECT p.chain_hash FROM {CHAIN_TABLE} p WHERE "
            f"p.notification_id < {id_column} ORDER BY p.notification_id DESC LIMIT 1) "
            "AS prev_hash "
            f"FROM {sql.events_table} e LEFT JOIN {CHAIN_TABLE} c ON "
            f"c.notification_id = {id_column} WHERE {where} ORDER BY {id_column} LIMIT ?",
            (position, *extra, PAGE),
        )
        for notification_id, originator_id, version, topic, state, chain, prev in rows:
            previous[notification_id] = (
                stored_bytes(prev, "chain link", notification_id) if prev is not None else GENESIS
            )
            yield json.dumps(
                {
                    "scope": scope,
                    "position": notification_id,
                    "originator_id": str(UUID(str(originator_id))),
                    "originator_version": version,
                    "topic": topic,
                    "state": base64.b64encode(
                        stored_bytes(state, "event state", notification_id)
                    ).decode("ascii"),
                    "prev_chain_hash": previous[notification_id].hex(),
                    "chain_hash": (
                        stored_bytes(chain, "chain link", notification_id).hex()
                        if chain is not None
                        else None
                    ),
                },
                separators=(",", ":"),
            )
            position = notification_id
        if len(rows) < PAGE:
            return
