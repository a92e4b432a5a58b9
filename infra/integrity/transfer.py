"""Export and import of stored events as JSON Lines, ids, order and chain kept.

One line per stored event: its position (notification id), originator id, version, stable
topic, the stored state (base64 of the exact bytes: tokens in it stay sealed), and the chain
link before and after it. Each line's link can be checked on its own
(``chain_hash == H(prev_chain_hash || event)``); a full export is also checked for
continuity from genesis. Import checks the whole file first, then writes it in one
transaction, or writes nothing.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent

from recovery_ledger.infra.errors import BadInputError, LedgerBusyError
from recovery_ledger.infra.integrity.sql import LedgerSQL, stored_bytes
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, GENESIS, link

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


@dataclass(frozen=True)
class ImportedEvent:
    line: int
    scope: str | None  # "ledger" (whole, from genesis), "loop" (one loop), None (older files)
    position: int
    stored: StoredEvent
    prev_chain_hash: bytes
    chain_hash: bytes


def _fail(line: int, message: str) -> BadInputError:
    return BadInputError(f"import refused, nothing written: line {line}: {message}")


_MAX_COUNT = 2**63 - 1  # what a signed 64-bit column and the chain's u64 hold
MAX_LINE = 1 << 20  # far above any real event; bounds what a hostile file costs


def _count(data: dict[str, Any], name: str) -> int:
    value = data[name]
    if type(value) is not int or not 0 < value <= _MAX_COUNT:
        raise ValueError(name)
    return value


def _text(data: dict[str, Any], name: str) -> str:
    value = data[name]
    if type(value) is not str:
        raise ValueError(name)
    return value


def _digest(data: dict[str, Any], name: str) -> bytes:
    value = bytes.fromhex(_text(data, name))
    if len(value) != 32:
        raise ValueError(name)
    return value


def _parse_line(mapper: Mapper[UUID], number: int, text: str) -> ImportedEvent:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise _fail(number, "not JSON") from None
    if not isinstance(data, dict):
        raise _fail(number, "not a JSON object")
    try:
        stored = StoredEvent(
            originator_id=UUID(_text(data, "originator_id")),
            originator_version=_count(data, "originator_version"),
            topic=_text(data, "topic"),
            state=base64.b64decode(_text(data, "state"), validate=True),
        )
        scope = data.get("scope")
        if scope not in ("ledger", "loop", None):
            raise ValueError(scope)
        event = ImportedEvent(
            number,
            scope,
            _count(data, "position"),
            stored,
            _digest(data, "prev_chain_hash"),
            _digest(data, "chain_hash"),
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise _fail(number, "missing or malformed fields") from None
    try:
        mapper.to_domain_event(stored)
    except Exception:  # an unknown topic or an undecodable state: both refuse the file
        raise _fail(number, f"unknown topic or undecodable state ({stored.topic})") from None
    expected = link(
        event.prev_chain_hash,
        stored.originator_id,
        stored.originator_version,
        stored.topic,
        stored.state,
    )
    if expected != event.chain_hash:
        raise _fail(number, "the event does not match its chain link (altered)")
    return event


def read_export(handle: IO[str]) -> list[ImportedEvent]:
    """Every line checked before any ledger is opened, so a bad file creates nothing."""
    from recovery_ledger.infra.store.transcoder import OrjsonTranscoder

    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    events: list[ImportedEvent] = []
    number = 0
    while text := handle.readline(MAX_LINE + 1):
        number += 1
        if len(text) > MAX_LINE:
            raise _fail(number, f"longer than {MAX_LINE} characters (not an export)")
        if text.strip():
            events.append(_parse_line(mapper, number, text))
    if not events:
        raise BadInputError("import refused: the file holds no events")
    _check_order(events)
    return events


def _check_order(events: list[ImportedEvent]) -> None:
    """Positions ascending, each aggregate's versions consecutive, and for a whole-ledger
    export an unbroken chain from genesis (so a removed or reordered line is caught).

    A one-loop export links to events it does not carry; each of its lines is checked
    against its own link only (``_parse_line``)."""
    scopes = {event.scope for event in events}
    if len(scopes) > 1:
        raise _fail(events[-1].line, "lines of a whole-ledger and a one-loop export are mixed")
    scope = scopes.pop()
    full = scope == "ledger" or (scope is None and events[0].prev_chain_hash == GENESIS)
    if full and events[0].prev_chain_hash != GENESIS:
        raise _fail(events[0].line, "a whole-ledger export must start at the chain's beginning")
    if scope == "loop" and len({event.stored.originator_id for event in events}) > 1:
        raise _fail(events[-1].line, "a one-loop export holds events of several aggregates")
    last_position = 0
    versions: dict[UUID, int] = {}
    for i, event in enumerate(events):
        if event.position <= last_position:
            raise _fail(event.line, "positions are not in ascending order")
        last_position = event.position
        aggregate = UUID(str(event.stored.originator_id))
        previous = versions.get(aggregate)
        if previous is not None and event.stored.originator_version != previous + 1:
            raise _fail(event.line, "versions of an aggregate are not consecutive")
        versions[aggregate] = event.stored.originator_version
        if full and i > 0 and event.prev_chain_hash != events[i - 1].chain_hash:
            raise _fail(event.line, "the chain is broken (a line was removed or reordered)")


def import_events(app: LedgerApp, events: list[ImportedEvent]) -> tuple[int, int]:
    """Write the events not yet present, all in one transaction. Returns (written, skipped)."""
    new: list[StoredEvent] = []
    skipped = 0
    for event in events:
        existing = app.recorder.select_events(
            event.stored.originator_id,
            gt=event.stored.originator_version - 1,
            lte=event.stored.originator_version,
        )
        if existing:
            same = (
                existing[0].topic == event.stored.topic
                and bytes(existing[0].state) == event.stored.state
            )
            if not same:
                raise _fail(
                    event.line,
                    "a different event is already recorded at this aggregate and version",
                )
            skipped += 1
            continue
        new.append(event.stored)
    _check_continues_ledger(app, new)
    if new:
        from eventsourcing.persistence import IntegrityError

        try:
            app.recorder.insert_events(new)
        except IntegrityError:
            raise LedgerBusyError(
                "import conflicted with another writer; nothing written, try again"
            ) from None
    return len(new), skipped


def _check_continues_ledger(app: LedgerApp, new: list[StoredEvent]) -> None:
    first: dict[UUID, int] = {}
    for stored in new:
        first.setdefault(UUID(str(stored.originator_id)), stored.originator_version)
    for aggregate, version in first.items():
        if version == 1:
            continue
        before = app.recorder.select_events(aggregate, gt=version - 2, lte=version - 1)
        if not before:
            raise BadInputError(
                f"import refused, nothing written: aggregate {aggregate} would start at "
                f"version {version} with nothing before it in this ledger"
            )
