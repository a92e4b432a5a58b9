"""``--host NAME`` on the collector's ledger: NAME may be the host name an installation was
enrolled under (``collector enroll --name``). It stands for the host ids that the loops and
boots this installation shipped carry (one, unless its ledger holds another host's import)."""

from __future__ import annotations

from collections.abc import Iterable

from psycopg.sql import SQL, Identifier

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.infra.fleet.schema import has_fleet_tables
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.projections.rows import BootRow, LoopRow

# The events that start a loop or a boot: one per aggregate, so few rows to read.
_FIRST_EVENTS = [Loop.Registered.TOPIC, Boot.Created.TOPIC, Boot.Started.TOPIC]


def enrolled_host_ids(
    app: LedgerApp, boots: Iterable[BootRow], loops: Iterable[LoopRow]
) -> dict[str, set[str]]:
    """Enrolled host name -> the host ids of what that installation shipped; empty on a
    ledger that is not a collector's."""
    if not has_fleet_tables(app):
        return {}
    recorder = app.recorder
    datastore = recorder.datastore  # type: ignore[attr-defined]
    schema = Identifier(datastore.schema)
    with datastore.get_connection() as conn:
        rows = conn.execute(
            SQL(
                "SELECT DISTINCT i.host_name, e.originator_id FROM {s}.fleet_installations AS i "
                "JOIN {s}.fleet_events AS f USING (installation) "
                "JOIN {s}.{events} AS e USING (notification_id) WHERE e.topic = ANY(%s)"
            ).format(s=schema, events=Identifier(recorder.events_table_name)),  # type: ignore[attr-defined]
            (_FIRST_EVENTS,),
        ).fetchall()
    host_of = {loop.aggregate_id: loop.host_id for loop in loops}
    host_of.update((boot.boot_id, boot.host_id) for boot in boots)
    found: dict[str, set[str]] = {}
    for row in rows:
        host_id = host_of.get(str(row["originator_id"]))
        if host_id is not None:
            found.setdefault(str(row["host_name"]), set()).add(host_id)
    return found
