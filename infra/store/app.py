"""The ledger application: a thin façade of intention-revealing methods over the
eventsourcing application (``save`` and the repository)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.domain import BaseAggregate
from eventsourcing.persistence import (
    IntegrityError,
    Mapper,
    PersistenceError,
    RecordConflictError,
    Recording,
    Transcoder,
)

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.installation import Installation
from recovery_ledger.domain.loop import (
    Loop,
    SealedToken,
    TokenSource,
    loop_aggregate_id,
)
from recovery_ledger.domain.observations import provenance_of
from recovery_ledger.domain.runner_token import parse_runner_token
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.sealing import TokenSealer
from recovery_ledger.infra.errors import BadInputError, LedgerBusyError
from recovery_ledger.infra.store.location import LedgerLocation
from recovery_ledger.infra.store.loop_projector import project_loop
from recovery_ledger.infra.store.mapper import LedgerMapper
from recovery_ledger.infra.store.open_loops import LoopHistory, OpenLoopIndex
from recovery_ledger.infra.store.snapshots import TABLE as SNAPSHOTS_TABLE
from recovery_ledger.infra.store.snapshots import (
    SealedSnapshots,
    snapshot_due,
    snapshot_mac_key,
)
from recovery_ledger.infra.store.transcoder import OrjsonTranscoder

_PAGE = 500
EVENTS_TABLE = "recoveryledger_events"


class UnknownLoopError(BadInputError):
    pass


class LedgerApp(Application[UUID]):
    name = "RecoveryLedger"  # the library names the PostgreSQL events table after it

    def __init__(self, location: LedgerLocation, keys: KeyStore) -> None:
        self.location = location
        self.keys = keys
        self.sealer = TokenSealer(keys)
        super().__init__(env=location.library_env())
        from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner
        from recovery_ledger.infra.store.witness import WitnessedSigner

        self._signing_key = CheckpointSigner(keys)
        signer = WitnessedSigner(self._signing_key, keys.directory)
        self.recorder.head_signer = signer  # type: ignore[attr-defined]
        self.loop_snapshots = self.factory.event_store(
            mapper=self.mapper, recorder=self._snapshot_recorder()
        )
        self.repository.snapshot_store = self.loop_snapshots

    def construct_transcoder(self) -> Transcoder:
        return OrjsonTranscoder()

    def construct_mapper(self) -> Mapper[UUID]:
        return LedgerMapper(transcoder=self.construct_transcoder())

    def _snapshot_recorder(self) -> SealedSnapshots:
        recorder_class = type(self.factory).aggregate_recorder_class  # type: ignore[attr-defined]
        table = recorder_class(
            datastore=self.factory.datastore,  # type: ignore[attr-defined]
            events_table_name=SNAPSHOTS_TABLE,
        )
        if not self.location.read_only:
            table.create_table()
        return SealedSnapshots(table, self._snapshot_mac_key)

    def _snapshot_mac_key(self) -> bytes | None:
        from recovery_ledger.infra.errors import LedgerUnreadableError

        try:
            key = self._signing_key.existing_key()
        except LedgerUnreadableError:  # a writer is stopped by its guard; a reader folds
            return None
        return None if key is None else snapshot_mac_key(key)

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's save without the work nothing here uses: it checks every object
        against two runtime ``Protocol``s (slow ``isinstance``: a third of a boot's write
        in a profile) and wraps every stored event in a ``Recording`` for subscribers, of
        which the ledger has none (no library snapshotting, no cache, no ``_notify``).
        Then the loop snapshots that fell due (``snapshots.py``). Returns no recordings."""
        if self.snapshots is not None or self.repository.cache is not None:
            return super().save(*objs, **kwargs)
        events: list[Any] = []
        due: list[Loop] = []
        for obj in objs:
            if isinstance(obj, BaseAggregate):
                collected = obj.collect_events()
                events.extend(collected)
                if isinstance(obj, Loop) and snapshot_due(obj.version, len(collected)):
                    due.append(obj)
            elif obj is not None:  # a domain event
                events.append(obj)
        self.recorder.insert_events([self.mapper.to_stored_event(e) for e in events], **kwargs)
        if due:
            self.loop_snapshots.put([Loop.Snapshot.take(loop) for loop in due])
        return []

    # -- reading --------------------------------------------------------------------

    def find_loop(self, loop_id: str) -> Loop | None:
        try:
            loop: Loop = self.repository.get(
                loop_aggregate_id(loop_id), projector_func=project_loop
            )
        except AggregateNotFoundError:
            return None
        return loop

    def get_loop(self, loop_id: str) -> Loop:
        loop = self.find_loop(loop_id)
        if loop is None:
            raise UnknownLoopError(f"unknown loop {loop_id!r}")
        return loop

    def loop_aggregate_ids(self) -> list[UUID]:
        """Every registered loop, in registration order."""
        ids: list[UUID] = []
        start = 1
        while True:
            page = self.recorder.select_notifications(start, _PAGE, topics=[Loop.Registered.TOPIC])
            ids.extend(UUID(str(n.originator_id)) for n in page)
            if len(page) < _PAGE:
                return ids
            start = page[-1].id + 1

    def loops(self) -> list[Loop]:
        """Every loop, finalized ones included: their whole histories (not for the boot)."""
        return [
            self.repository.get(aggregate_id, projector_func=project_loop)
            for aggregate_id in self.loop_aggregate_ids()
        ]

    def open_loops(self, host_id: str | None = None) -> list[Loop]:
        """Loops not finalized (of ``host_id``, or of every host), in registration order.

        Read through the open-loop index kept with the events, so the cost follows the
        open loops, never the ledger's history of finalized ones; all of them in one
        statement (a boot of 1,000 loops read them one by one in 2,000 queries), each
        folded from its newest snapshot, as the repository would."""
        index = cast(OpenLoopIndex, self.recorder)
        sealed = cast(SealedSnapshots, self.loop_snapshots.recorder)
        table = SNAPSHOTS_TABLE if sealed.can_check() else None
        try:
            histories = index.open_loop_histories(host_id, table)
        except PersistenceError:
            if table is None:
                raise
            # A read-only ledger written before snapshots existed has no table for them.
            histories = index.open_loop_histories(host_id, None)
        return [self._fold(history, sealed) for history in histories]

    def _fold(self, history: LoopHistory, sealed: SealedSnapshots) -> Loop:
        events = history.events
        if history.snapshot is not None:
            snapshot = sealed.verified(history.snapshot)
            if snapshot is None:  # never used; the repository folds every event instead
                loop: Loop = self.repository.get(history.aggregate_id, projector_func=project_loop)
                return loop
            events = [snapshot, *events]
        folded = project_loop(None, map(self.mapper.to_domain_event, events))
        assert folded is not None, "an open loop has a registration"
        return folded

    def current_token(self, loop_id: str) -> str:
        loop = self.get_loop(loop_id)
        if loop.token is None:
            raise BadInputError(f"loop {loop_id!r} holds no token (it was cleared)")
        return self.sealer.unseal(loop.id, loop.token.jti, loop.token.sealed_token)

    # -- writing ------------------------------------------------------------------------

    def seal_token(
        self,
        aggregate_id: UUID,
        jti: str,
        expires_at: datetime,
        fingerprint: str,
        token: str,
        source: TokenSource,
    ) -> SealedToken:
        sealed, key_id = self.sealer.seal(aggregate_id, jti, token)
        return SealedToken(jti, expires_at, fingerprint, sealed, key_id, source)

    def register_loop(
        self,
        *,
        loop_id: str,
        provenance: str,
        pid: int,
        pid_start_time: float,
        host_id: str,
        token: str,
    ) -> Loop:
        declared = provenance_of(provenance)
        info = parse_runner_token(token)
        if self.find_loop(loop_id) is not None:
            raise BadInputError(f"loop {loop_id!r} is already registered")
        loop = Loop(
            loop_id=loop_id,
            provenance=declared,
            pid=pid,
            pid_start_time=pid_start_time,
            host_id=host_id,
        )
        loop.issue_token(
            self.seal_token(
                loop.id, info.jti, info.expires_at, info.fingerprint, token, "registered"
            )
        )
        with self.conflicts_refused(f"loop {loop_id!r} is already registered"):
            self.save(loop)
        return loop

    def record_token(self, loop_id: str, token: str) -> Loop:
        info = parse_runner_token(token)
        loop = self.get_loop(loop_id)
        loop.issue_token(
            self.seal_token(loop.id, info.jti, info.expires_at, info.fingerprint, token, "rotated")
        )
        with self.conflicts_refused(f"loop {loop_id!r} was changed by another writer"):
            self.save(loop)
        return loop

    def finalize_loop(self, loop_id: str, reason: str) -> Loop:
        """The host ended the loop itself; its token is cleared and shredded."""
        if not reason.strip():
            raise BadInputError("--reason must not be empty")
        loop = self.get_loop(loop_id)
        loop.finalize(reason, boot_id=None, cloud_last_word=None, by="host")
        with self.conflicts_refused(f"loop {loop_id!r} was changed by another writer"):
            self.save(loop)
        self.keys.destroy_data_key(loop.id)
        return loop

    def record_key_adoption(
        self, key_id: str, replaced_key_ids: list[str], host_id: str, host_name: str, events: int
    ) -> Installation:
        """A new key directory takes over the ledger (``key adopt``): recorded, never implied."""
        adoption = Installation(key_id, replaced_key_ids, host_id, host_name, events)
        self.save(adoption)
        return adoption

    def save_boot_progress(self, *aggregates: Loop | Boot) -> None:
        """One transaction for everything a boot step recorded, for many loops."""
        with self.conflicts_refused("the ledger was changed by another writer during boot"):
            self.save(*aggregates)

    def shred_cleared_keys(self, host_id: str | None = None) -> int:
        """Destroy data keys whose token the ledger says is cleared (of ``host_id``'s loops,
        or of any host's).

        The ledger records the clearing first and destroys the key after; a crash in
        between leaves a key that this sweep removes on the next run. Only keys still on
        disk are looked at, and an open loop always holds its token: the sweep loads no
        loop at all unless such a crash happened.
        """
        index = cast(OpenLoopIndex, self.recorder)
        open_ids = set(index.open_loop_ids(None))
        shredded = 0
        for aggregate_id in self.keys.data_key_ids():
            if aggregate_id in open_ids:
                continue
            try:
                loop: Loop = self.repository.get(aggregate_id, projector_func=project_loop)
            except AggregateNotFoundError:
                continue
            if host_id is not None and loop.host_id != host_id:
                continue
            if loop.token is None:
                self.keys.destroy_data_key(loop.id)
                shredded += 1
        return shredded

    @staticmethod
    @contextmanager
    def conflicts_refused(message: str) -> Iterator[None]:
        try:
            yield
        except (IntegrityError, RecordConflictError):
            raise LedgerBusyError(f"{message}; nothing was written, try again") from None


def open_ledger(location: LedgerLocation, keys: KeyStore, *, create: bool) -> LedgerApp:
    """Open (and for SQLite, when ``create``, make) the ledger; refuse a foreign file."""
    from contextlib import nullcontext

    from recovery_ledger.infra.store.location import check_sqlite_file

    if location.path is not None:
        check_sqlite_file(location.path, create=create)
        setup: Any = nullcontext()
    else:
        from recovery_ledger.infra.store.postgres_setup import require_ledger, schema_ready

        if not create:
            require_ledger(location.library_env(), EVENTS_TABLE)
        setup = schema_ready(location.library_env())
    with setup:  # on PostgreSQL, constructing the app creates tables: one opener at a time
        return _construct(location, keys)


def _construct(location: LedgerLocation, keys: KeyStore) -> LedgerApp:
    from recovery_ledger.infra.errors import LedgerUnreadableError

    try:
        return LedgerApp(location, keys)
    except Exception as error:  # the library raises many kinds for a bad database
        raise LedgerUnreadableError(
            f"cannot open ledger {location.describe()}: {_one_line(error)}"
        ) from None


def _one_line(error: Any) -> str:
    return str(error).splitlines()[0] if str(error) else type(error).__name__
