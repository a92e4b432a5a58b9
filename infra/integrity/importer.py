"""``import`` of a JSON Lines export (``transfer.py`` writes them), streamed: the file is read
twice and never held.

The first pass checks every line and the order of the whole file before any ledger is opened,
so a bad file creates nothing. It keeps only what the order checks need: the last version of
each aggregate and the previous line's link. The second pass reads the file again in batches
and writes them in one transaction (``BulkAppend``). For each batch it does one lookup of the
events already present (none on an empty ledger) and one insert. One signed head ends the
transaction. Memory follows the batch and the number of aggregates, never the file's length.

Between the passes the file must stay as it was checked: the second pass reads the same open
file, and its size, modification and change times are compared before anything commits. A
pipe cannot be read twice, so its lines are copied to a private temporary file as the first
pass reads them.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import IO, Any, NamedTuple, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError, Mapper, StoredEvent

from recovery_ledger.infra.errors import BadInputError, LedgerBusyError
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.bulk import BulkAppend, BulkRecorder
from recovery_ledger.infra.store.chain import GENESIS, Linker

BATCH = 2000  # events per lookup and insert in the second pass
_MAX_COUNT = 2**63 - 1  # what a signed 64-bit column and the chain's u64 hold
MAX_LINE = 1 << 20  # far above any real event; bounds what a hostile file costs


class ImportedEvent(NamedTuple):  # a tuple: made once per line, cheaply
    line: int
    scope: str | None  # "ledger" (whole, from genesis), "loop" (one loop), None (older files)
    position: int
    stored: StoredEvent
    prev_chain_hash: bytes
    chain_hash: bytes


def _changed() -> BadInputError:
    return BadInputError("import refused, nothing written: the file changed while it was imported")


def _fail(line: int, message: str) -> BadInputError:
    return BadInputError(f"import refused, nothing written: line {line}: {message}")


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


class _LineParser:
    """Each line to its event, every field checked: well-formed, a known topic, a state
    that decodes, and its own link ``chain_hash == H(prev_chain_hash || event)``."""

    def __init__(self) -> None:
        from recovery_ledger.infra.store.transcoder import OrjsonTranscoder

        self.mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
        self.linker = Linker()
        self.ids: dict[str, UUID] = {}  # parsed once per aggregate, not once per line

    def parse(self, number: int, text: str) -> ImportedEvent:
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:  # also what orjson raises for nesting over 1,024 deep
            raise _fail(number, "not JSON") from None
        if not isinstance(data, dict):
            raise _fail(number, "not a JSON object")
        try:
            stored = StoredEvent(
                originator_id=self._uuid(_text(data, "originator_id")),
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
            self.mapper.to_domain_event(stored)
        except Exception:  # an unknown topic or an undecodable state: both refuse the file
            raise _fail(number, f"unknown topic or undecodable state ({stored.topic})") from None
        expected = self.linker.link(
            event.prev_chain_hash,
            stored.originator_id,
            stored.originator_version,
            stored.topic,
            stored.state,
        )
        if expected != event.chain_hash:
            raise _fail(number, "the event does not match its chain link (altered)")
        return event

    def _uuid(self, text: str) -> UUID:
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = UUID(text)
        return found


class _OrderCheck:
    """The whole file's order, one line at a time: one scope; positions ascending; each
    aggregate's versions consecutive; for a whole-ledger export an unbroken chain from
    genesis (so a removed, reordered or cut-off line is caught).

    A one-loop export links to events it does not carry; each of its lines is checked
    against its own link only (``_parse_line``), and it holds one aggregate."""

    def __init__(self) -> None:
        self.first: ImportedEvent | None = None
        self.full = False
        self.last_position = 0
        self.last_link = GENESIS
        self.versions: dict[UUID, int] = {}

    def add(self, event: ImportedEvent) -> None:
        first = self.first
        if first is None:
            self.first = first = event
            self.full = event.scope == "ledger" or (
                event.scope is None and event.prev_chain_hash == GENESIS
            )
            if self.full and event.prev_chain_hash != GENESIS:
                raise _fail(event.line, "a whole-ledger export must start at the chain's beginning")
        elif event.scope != first.scope:
            raise _fail(event.line, "lines of a whole-ledger and a one-loop export are mixed")
        aggregate = cast(UUID, event.stored.originator_id)
        if first.scope == "loop" and aggregate != first.stored.originator_id:
            raise _fail(event.line, "a one-loop export holds events of several aggregates")
        if event.position <= self.last_position:
            raise _fail(event.line, "positions are not in ascending order")
        self.last_position = event.position
        version = event.stored.originator_version
        previous = self.versions.get(aggregate)
        if previous is not None and version != previous + 1:
            raise _fail(event.line, "versions of an aggregate are not consecutive")
        self.versions[aggregate] = version
        if self.full and event is not first and event.prev_chain_hash != self.last_link:
            raise _fail(event.line, "the chain is broken (a line was removed or reordered)")
        self.last_link = event.chain_hash


def _lines(handle: IO[bytes], copy: IO[bytes] | None = None) -> Iterator[tuple[int, bytes]]:
    """(line number, line) of every line that is not blank; every line also to ``copy``."""
    number = 0
    while raw := handle.readline(MAX_LINE + 1):
        number += 1
        if len(raw) > MAX_LINE:
            raise _fail(number, f"longer than {MAX_LINE} characters (not an export)")
        if copy is not None:
            copy.write(raw)
        if raw.strip():
            yield number, raw


class CheckedExport:
    """An export whose every line and order passed, still open for the second pass."""

    def __init__(self, handle: IO[bytes], events: int, copy: IO[bytes] | None) -> None:
        self.handle = copy if copy is not None else handle
        self.events = events
        self._copy = copy
        self._checked_as = _identity(self.handle)

    def __enter__(self) -> CheckedExport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._copy is not None:
            self._copy.close()

    def batches(self) -> Iterator[list[tuple[int, StoredEvent]]]:
        """(line number, event) in batches, parsed again: the first pass checked them."""
        self.handle.seek(0)
        ids: dict[str, UUID] = {}  # one UUID object per aggregate, not one per line
        batch: list[tuple[int, StoredEvent]] = []
        for number, raw in _lines(self.handle):
            try:
                data = orjson.loads(raw)
                text = data["originator_id"]
                aggregate = ids.get(text)
                if aggregate is None:
                    aggregate = ids[text] = UUID(text)
                state = binascii.a2b_base64(data["state"])  # checked strictly in pass one
                event = StoredEvent(aggregate, data["originator_version"], data["topic"], state)
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error):
                raise _changed() from None  # a line the first pass accepted would parse
            batch.append((number, event))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def unchanged(self) -> bool:
        return _identity(self.handle) == self._checked_as


def _identity(handle: IO[bytes]) -> tuple[int, ...]:
    found = os.fstat(handle.fileno())
    return (found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns)


def check_export(handle: IO[bytes]) -> CheckedExport:
    """The first pass: every line checked before any ledger is opened. A line that is not
    UTF-8 raises ``UnicodeDecodeError``."""
    parser = _LineParser()
    copy = None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        copy = tempfile.TemporaryFile()  # noqa: SIM115 - owned by the CheckedExport
    try:
        order = _OrderCheck()
        events = 0
        for number, raw in _lines(handle, copy):
            order.add(parser.parse(number, raw.decode("utf-8")))
            events += 1
        if not events:
            raise BadInputError("import refused: the file holds no events")
        if copy is not None:
            copy.flush()  # all of it in the file before the file's size is taken
    except BaseException:
        if copy is not None:
            copy.close()
        raise
    return CheckedExport(handle, events, copy)


def import_checked(app: LedgerApp, export: CheckedExport) -> tuple[int, int]:
    """The second pass: write the events not yet present, all in one transaction, or
    nothing. Returns (written, skipped)."""
    recorder = cast(BulkRecorder, app.recorder)
    try:
        with recorder.bulk_append() as bulk:
            written, skipped = _write(bulk, export)
            if not export.unchanged():
                raise _changed()
    except IntegrityError:
        raise LedgerBusyError(
            "import conflicted with another writer; nothing written, try again"
        ) from None
    return written, skipped


def _write(bulk: BulkAppend, export: CheckedExport) -> tuple[int, int]:
    empty = bulk.is_empty()
    seen: set[UUID] = set()  # aggregates with an event on an earlier line
    written = skipped = 0
    for batch in export.batches():
        keys = [(cast(UUID, e.originator_id), e.originator_version) for _, e in batch]
        present = {} if empty else bulk.present(keys)
        new: list[StoredEvent] = []
        starts: list[tuple[UUID, int]] = []  # aggregates whose first new event is not v1
        for (number, event), key in zip(batch, keys, strict=True):
            existing = present.get(key)
            if existing is not None:
                if existing.topic != event.topic or existing.state != event.state:
                    raise _fail(
                        number,
                        "a different event is already recorded at this aggregate and version",
                    )
                skipped += 1
            else:
                if key[0] not in seen and key[1] > 1:
                    starts.append((key[0], key[1] - 1))
                new.append(event)
            seen.add(key[0])
        _check_continues_ledger(bulk, starts, empty)
        bulk.append(new)
        written += len(new)
    return written, skipped


def _check_continues_ledger(bulk: BulkAppend, before: list[tuple[UUID, int]], empty: bool) -> None:
    """An aggregate's first new event follows its previous version in this ledger."""
    found = {} if empty or not before else bulk.present(before)
    for aggregate, version in before:
        if (aggregate, version) not in found:
            raise BadInputError(
                f"import refused, nothing written: aggregate {aggregate} would start at "
                f"version {version + 1} with nothing before it in this ledger"
            )
