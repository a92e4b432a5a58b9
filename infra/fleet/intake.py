"""The collector's store: verify, then store exactly once.

The head's signature and the events' chain to it are checked first, by the request's own
thread (``check_upload``). Then uploads ready at the same moment are stored together
(``group_commit.py``), in one PostgreSQL transaction that holds each one's installation
row lock (so two ships of one host queue here): each installation is enrolled, its request
id is new, the check passed, and, against what the collector holds, the upload starts
inside the acknowledged history, every link it shares with that history is the same (else
the desktop was rolled back or forked). An upload refused there leaves nothing in the
transaction (its request id is taken back) and the others go on. The events past each
acknowledgement are stored in one insert, under one extension of the collector's chain and
one signed head, with each upload's links, head, new acknowledgement and request id; each
answer leaves after the commit. A crash of the collector or of the connection at any
instant leaves either all of a group or none of it; the next upload resumes from what was
committed. ``(installation, seq)`` is a primary key and the events' ``(originator_id,
version)`` is unique: storing twice is impossible, not just avoided. When that uniqueness
refuses a group (an event another installation already stored), its uploads are stored
again one by one, so that only the conflicting one is refused.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from eventsourcing.persistence import IntegrityError as LibraryIntegrityError
from psycopg.sql import SQL, Identifier

from recovery_ledger.infra.fleet.batch_check import check_upload
from recovery_ledger.infra.fleet.group_commit import GroupCommitter, Waiting
from recovery_ledger.infra.fleet.protocol import Acknowledgement, ShippedEvent, Upload
from recovery_ledger.infra.fleet.readmission import statements as readmission_statements
from recovery_ledger.infra.fleet.refusals import Refusal
from recovery_ledger.infra.fleet.request_auth import MAX_SKEW_S, Requester
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import GENESIS
from recovery_ledger.infra.store.heads import Checkpoint

# Two groups in flight: one gathers its row locks and checks while the other holds the
# events table's lock and commits. A group holds at most as many uploads and events as
# one transaction should carry.
GROUPS_AT_ONCE = 2
GROUP_MAX_UPLOADS = 64
GROUP_MAX_EVENTS = 20_000


@dataclass(frozen=True)
class Installation:
    installation: int
    host_name: str
    acked_count: int
    acked_position: int
    acked_head: bytes
    readmission: int | None = None  # pending: its history resumes at its next upload
    verified_count: int = 0  # of a pending readmission: how far its history was walked


@dataclass(frozen=True)
class _Ready:
    """An upload checked (``links``, or why it is refused: said after the reasons the
    database gives, as when it was checked under the row lock), waiting for its group."""

    requester: Requester
    upload: Upload
    links: list[bytes] | Refusal


@dataclass(frozen=True)
class _New:
    """What one upload of a group adds, verified, to be inserted with the others."""

    installation: Installation
    upload: Upload
    first_new: int
    new_events: Sequence[ShippedEvent]
    new_links: list[bytes]
    jwk: str


class Intake:
    def __init__(self, app: LedgerApp) -> None:
        self.app = app
        self.recorder: Any = cast(Any, app.recorder)  # the chained PostgreSQL recorder
        self.datastore: Any = self.recorder.datastore
        self._witness_lock = threading.Lock()
        self._witnessed = 0
        self.transactions = 0  # committed to store uploads (a metric: how well they group)
        self.groups: GroupCommitter[_Ready, Acknowledgement] = GroupCommitter(
            self._store_group, GROUPS_AT_ONCE, GROUP_MAX_UPLOADS, GROUP_MAX_EVENTS
        )
        schema = Identifier(self.datastore.schema)
        self._sql = {
            name: SQL(text).format(s=schema)
            for name, text in {
                "lock": "SELECT i.installation, i.host_name, i.acked_count, i.acked_position, "
                "i.acked_head, r.readmission, r.verified_count FROM {s}.fleet_installations "
                "AS i LEFT JOIN {s}.fleet_readmissions AS r ON r.installation = i.installation "
                "AND r.resumed_at IS NULL WHERE i.thumbprint = %s FOR UPDATE OF i",
                "find": "SELECT i.installation, i.host_name, i.acked_count, i.acked_position, "
                "i.acked_head, r.readmission, r.verified_count, e.source_position, "
                "e.source_link FROM {s}.fleet_installations AS i LEFT JOIN "
                "{s}.fleet_readmissions AS r ON r.installation = i.installation AND "
                "r.resumed_at IS NULL LEFT JOIN {s}.fleet_events AS e ON e.installation = "
                "i.installation AND e.seq = r.verified_count WHERE i.thumbprint = %s",
                # Not enrolled: nothing inserted, and the lock's empty answer says why.
                "nonce": "INSERT INTO {s}.fleet_nonces (installation, jti) SELECT "
                "installation, %s FROM {s}.fleet_installations WHERE thumbprint = %s "
                "ON CONFLICT DO NOTHING",
                "links": "SELECT e.seq, e.source_position, e.source_link FROM {s}.fleet_events "
                "AS e JOIN {s}.fleet_installations AS i USING (installation) WHERE "
                "i.thumbprint = %s "
                "AND e.seq BETWEEN %s AND %s",
                "events": "INSERT INTO {s}.fleet_events (installation, seq, source_position, "
                "notification_id, source_link) SELECT %s, * FROM unnest(%b::bigint[], "
                "%b::bigint[], %b::bigint[], %b::bytea[])",
                "head": "INSERT INTO {s}.fleet_heads (installation, position, event_count, head, "
                "signed_at, key_id, signature) VALUES (%s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT DO NOTHING",
                "ack": "UPDATE {s}.fleet_installations SET acked_count = %s, acked_position = %s, "
                "acked_head = %s, reported_count = %s, last_upload_at = now(), "
                "public_jwk = COALESCE(public_jwk, %s) WHERE installation = %s",
                "seen": "UPDATE {s}.fleet_installations SET reported_count = %s, "
                "last_upload_at = now(), public_jwk = COALESCE(public_jwk, %s) "
                "WHERE installation = %s",
                "refusal": "INSERT INTO {s}.fleet_refusals (installation, thumbprint, reason, "
                "message) VALUES ((SELECT installation FROM {s}.fleet_installations "
                "WHERE thumbprint = %s), %s, %s, %s)",
                "unnonce": "DELETE FROM {s}.fleet_nonces WHERE jti = %s AND installation = "
                "(SELECT installation FROM {s}.fleet_installations WHERE thumbprint = %s)",
                "forget": "DELETE FROM {s}.fleet_nonces WHERE seen_at < now() - %s::interval",
            }.items()
        }
        self._sql.update(readmission_statements(self.datastore.schema))

    # -- answering ------------------------------------------------------------------

    def position(self, requester: Requester) -> Acknowledgement:
        with self.datastore.get_connection() as conn:
            row = conn.execute(self._sql["find"], (requester.thumbprint,)).fetchone()
        installation = _installation(row, requester.thumbprint)
        if installation.readmission is None:
            return _ack(installation, 0)
        # Readmitted: the next ship walks its history from the start (readmission.py).
        if installation.verified_count == 0:
            return Acknowledgement(0, 0, GENESIS, 0)
        position, link = int(row["source_position"]), bytes(row["source_link"])
        return Acknowledgement(installation.verified_count, position, link, 0)

    def accept(self, requester: Requester, upload: Upload) -> Acknowledgement:
        """Store what the upload adds to the installation's history, or raise Refusal;
        returns once it is committed, with the uploads stored in the same transaction."""
        try:
            links: list[bytes] | Refusal = check_upload(
                upload, requester.public_key, self.app.mapper
            )
        except Refusal as refusal:
            links = refusal
        ready = _Ready(requester, upload, links)
        return self.groups.submit(Waiting(requester.thumbprint, len(upload.events), ready))

    def _store_group(self, group: Sequence[_Ready]) -> list[Acknowledgement | Exception]:
        try:
            with (
                self.datastore.get_connection() as conn,
                conn.pipeline(),
                conn.transaction(),
            ):
                outcomes, signed = self._store(conn, group)
        except LibraryIntegrityError:
            if len(group) > 1:  # which upload conflicts is not known: each goes alone
                return [outcome for ready in group for outcome in self._store_group([ready])]
            return [
                Refusal(
                    "conflict",
                    "an event of this upload is already stored for another installation "
                    "(same aggregate and version); nothing was stored",
                )
            ]
        with self._witness_lock:
            self.transactions += 1
        if signed is not None:
            self._witness(signed)
        return outcomes

    def _witness(self, signed: Checkpoint) -> None:
        """Move the collector ledger's own witness forward, never back: uploads commit in
        any order across threads, and the witness file is one file."""
        with self._witness_lock:
            if signed.event_count > self._witnessed:
                self.recorder.head_signer.committed(signed)
                self._witnessed = signed.event_count

    def record_refusal(self, thumbprint: str | None, refusal: Refusal) -> None:
        """Keep the refusal as evidence (a rollback in particular); best effort."""
        with self.datastore.get_connection() as conn:
            conn.execute(
                self._sql["refusal"],
                (thumbprint, thumbprint, refusal.reason, refusal.message),
            )

    def forget_old_nonces(self) -> None:
        with self.datastore.get_connection() as conn:
            conn.execute(self._sql["forget"], (f"{4 * MAX_SKEW_S} seconds",))

    def ping(self) -> None:
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT 1")

    # -- storing, under the installation's row lock ---------------------------------

    def _store(
        self, conn: Any, group: Sequence[_Ready]
    ) -> tuple[list[Acknowledgement | Exception], Checkpoint | None]:
        """Three round trips in pipeline mode, whatever the group's size: every upload's
        row lock, request id and shared links; the events (``insert_in_transaction``);
        the rest with the commit. Row locks are taken in thumbprint order, so that two
        groups in flight never wait on each other's."""
        order = sorted(range(len(group)), key=lambda i: group[i].requester.thumbprint)
        reads = [self._read(conn, group[i]) for i in order]
        # The last answer first: fetching it receives all those before it as well.
        held = [links.fetchall() for _, _, links in reversed(reads)][::-1]
        outcomes: dict[int, Acknowledgement | Exception] = {}
        new: list[tuple[int, _New]] = []
        for i, (locked, nonce, _), rows in zip(order, reads, held, strict=True):
            ready = group[i]
            try:
                verified = self._verify(conn, ready, locked, nonce, rows)
            except Refusal as refusal:
                if nonce.rowcount == 1:  # refused whole: its request id was not used
                    conn.execute(
                        self._sql["unnonce"], (ready.requester.jti, ready.requester.thumbprint)
                    )
                outcomes[i] = refusal
                continue
            if isinstance(verified, Acknowledgement):
                outcomes[i] = verified
            else:
                new.append((i, verified))
        signed = None
        if new:
            ids, signed = self.recorder.insert_in_transaction(
                conn, [shipped.stored for _, one in new for shipped in one.new_events]
            )
            start = 0
            for i, one in new:
                end = start + len(one.new_events)
                outcomes[i] = self._record(conn, one, ids[start:end])
                start = end
        return [outcomes[i] for i in range(len(group))], signed

    def _read(self, conn: Any, ready: _Ready) -> tuple[Any, Any, Any]:
        requester, upload = ready.requester, ready.upload
        locked, nonce, held = conn.cursor(), conn.cursor(), conn.cursor()
        locked.execute(self._sql["lock"], (requester.thumbprint,), prepare=True)
        nonce.execute(self._sql["nonce"], (requester.jti, requester.thumbprint), prepare=True)
        held.execute(
            self._sql["links"],
            (requester.thumbprint, max(upload.after_count, 1), upload.end_count),
            prepare=True,
        )
        return locked, nonce, held

    def _verify(
        self, conn: Any, ready: _Ready, locked: Any, nonce: Any, held: list[Any]
    ) -> Acknowledgement | _New:
        """Under the installation's row lock: an acknowledgement when the upload adds
        nothing, else what it adds; or Refusal, with nothing of it left in the transaction."""
        requester, upload = ready.requester, ready.upload
        held_rows = {
            int(row["seq"]): (int(row["source_position"]), bytes(row["source_link"]))
            for row in held
        }
        installation = _installation(locked.fetchone(), requester.thumbprint)
        if nonce.rowcount != 1:
            raise Refusal("replayed", "this signed request was already used")
        if isinstance(ready.links, Refusal):
            raise ready.links
        links = ready.links
        shared = {seq: link for seq, (_, link) in held_rows.items()}
        if installation.readmission is not None:
            # Its statements are the only ones written before a refusal can come.
            conn.execute("SAVEPOINT readmission")
            try:
                resumed = self._resume(conn, installation, upload, links, held_rows)
                if not isinstance(resumed, Acknowledgement):
                    _check_continues(resumed, upload, links, shared)
            except Refusal:
                conn.execute("ROLLBACK TO SAVEPOINT readmission")
                raise
            finally:
                conn.execute("RELEASE SAVEPOINT readmission")
            if isinstance(resumed, Acknowledgement):
                return resumed
            installation = resumed
        else:
            _check_continues(installation, upload, links, shared)
        first_new = max(installation.acked_count, upload.after_count) + 1
        skipped = first_new - upload.after_count - 1
        new_events = upload.events[skipped:]
        jwk = json.dumps(requester.jwk)
        if not new_events:
            conn.execute(self._sql["seen"], (upload.local_count, jwk, installation.installation))
            return _ack(installation, 0)
        return _New(installation, upload, first_new, new_events, links[skipped:], jwk)

    def _record(self, conn: Any, one: _New, ids: Sequence[int]) -> Acknowledgement:
        """The upload's own rows beside the events the group inserted: ``fleet_events``,
        its signed head and the new acknowledgement."""
        upload, number = one.upload, one.installation.installation
        head = upload.head
        assert head is not None
        last, last_link = one.new_events[-1], one.new_links[-1]
        conn.execute(
            self._sql["events"],
            (
                number,
                list(range(one.first_new, upload.end_count + 1)),
                [shipped.position for shipped in one.new_events],
                list(ids),
                one.new_links,
            ),
            prepare=True,
        )
        conn.execute(self._sql["head"], (number, *head.row()), prepare=True)
        conn.execute(
            self._sql["ack"],
            (upload.end_count, last.position, last_link, upload.local_count, one.jwk, number),
            prepare=True,
        )
        return Acknowledgement(upload.end_count, last.position, last_link, len(one.new_events))

    def _resume(
        self,
        conn: Any,
        installation: Installation,
        upload: Upload,
        links: list[bytes],
        held: dict[int, tuple[int, bytes]],
    ) -> Installation | Acknowledgement:
        """A readmitted installation's upload, walked against what the collector holds: an
        acknowledgement while the two agree and the ledger goes on; else its history
        resumes at the last event they share (the rows past it superseded), and the upload
        is taken as any other from there."""
        assert installation.readmission is not None
        readmission, acked = installation.readmission, installation.acked_count
        if upload.after_count > installation.verified_count:
            raise Refusal(
                "gap",
                f"the upload starts after event {upload.after_count}; the collector walked "
                f"{installation.verified_count} of this readmitted installation",
            )
        held = {0: (0, GENESIS), **held}
        claimed = dict(zip(range(upload.after_count + 1, upload.end_count + 1), links, strict=True))
        claimed[upload.after_count] = upload.after_head
        if claimed[upload.after_count] != held[upload.after_count][1]:
            raise Refusal(
                "rolled_back",
                f"the upload starts at event {upload.after_count}, where this readmitted "
                "installation's ledger differs from the collector's: ship again",
            )
        shared = upload.after_count
        while shared < min(acked, upload.end_count) and claimed[shared + 1] == held[shared + 1][1]:
            shared += 1
        parted = shared < min(acked, upload.end_count)
        if not parted and upload.end_count < acked and not upload.newest:
            conn.execute(self._sql["verified"], (upload.end_count, readmission))
            position, link = held[upload.end_count]
            return Acknowledgement(upload.end_count, position, link, 0)
        number = installation.installation
        position, link = held[shared]
        conn.execute(self._sql["supersede_events"], (number, shared, readmission))
        conn.execute(self._sql["supersede_heads"], (number, shared, readmission))
        conn.execute(self._sql["resumed"], (shared, readmission))
        conn.execute(self._sql["acked"], (shared, position, link, number))
        return Installation(number, installation.host_name, shared, position, link)


def _check_continues(
    installation: Installation, upload: Upload, links: list[bytes], held: dict[int, bytes]
) -> None:
    """The upload starts inside the acknowledged history, and every link it shares with
    that history (``held``: the collector's links over the upload's range) is the same."""
    acked = installation.acked_count
    if upload.after_count > acked:
        raise Refusal(
            "gap",
            f"the upload starts after event {upload.after_count}; the collector holds "
            f"{acked} of this installation",
        )
    claimed = {upload.after_count: upload.after_head}
    claimed.update(zip(range(upload.after_count + 1, upload.end_count + 1), links, strict=True))
    held = {0: GENESIS, **held}
    for seq in range(upload.after_count, min(acked, upload.end_count) + 1):
        if claimed[seq] != held.get(seq):
            raise Refusal(
                "rolled_back",
                f"this installation's ledger differs from what the collector acknowledged "
                f"at event {seq} of {acked}: it was restored from an older copy or forked",
            )
    if upload.newest and upload.head is not None and upload.head.event_count < acked:
        raise Refusal(
            "rolled_back",
            f"this installation's ledger holds {upload.head.event_count} signed events; "
            f"the collector acknowledged {acked}: it was rolled back",
        )
    if upload.newest and upload.head is None and acked > 0:
        raise Refusal(
            "rolled_back",
            f"this installation's ledger is empty; the collector acknowledged {acked} "
            "events: it was wiped or replaced",
        )


def _installation(row: Any, thumbprint: str) -> Installation:
    if row is None:
        raise Refusal(
            "not_enrolled",
            f"no installation with ledger key thumbprint {thumbprint} is enrolled "
            "(collector enroll --thumbprint ...)",
        )
    return Installation(
        int(row["installation"]),
        str(row["host_name"]),
        int(row["acked_count"]),
        int(row["acked_position"]),
        bytes(row["acked_head"]),
        None if row["readmission"] is None else int(row["readmission"]),
        int(row["verified_count"] or 0),
    )


def _ack(installation: Installation, stored: int) -> Acknowledgement:
    return Acknowledgement(
        installation.acked_count, installation.acked_position, installation.acked_head, stored
    )
