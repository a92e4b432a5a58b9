"""``verify``: the whole ledger against its hash chain, its signed checkpoints and the witness.

Streams the events in pages (constant memory but for one integer per aggregate). Each
event is checked twice: against its own stored link (``H(stored h_{i-1} || e_i)``, which
pinpoints an edited, inserted, deleted or reordered event), and as part of the chain
recomputed from genesis, which must equal every signed checkpoint at its position (which
catches a chain rewritten consistently after an edit). The newest checkpoint, and the
witness kept outside the ledger, must still be covered (which catches a cut-off tail).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner, PublicKey
from recovery_ledger.infra.integrity.checkpoints import recorded_checkpoints
from recovery_ledger.infra.integrity.signing import HeadKeys
from recovery_ledger.infra.integrity.sql import LedgerSQL
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, GENESIS, link
from recovery_ledger.infra.store.heads import Checkpoint
from recovery_ledger.infra.store.witness import read_witness

PAGE = 5000
MAX_REPORTED = 50


@dataclass
class VerifyReport:
    events: int = 0
    checkpoints_checked: int = 0
    checkpoints_foreign: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    truncated_report: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, kind: str, message: str, **where: Any) -> None:
        if len(self.problems) >= MAX_REPORTED:
            self.truncated_report = True
            return
        self.problems.append({"kind": kind, "message": message, **where})


def verify_ledger(app: LedgerApp, trusted: Sequence[PublicKey] = ()) -> VerifyReport:
    """``trusted``: public keys of other installations whose signed heads count as checked."""
    report = VerifyReport()
    sql = LedgerSQL.for_app(app)
    keys = HeadKeys(CheckpointSigner(app.keys), trusted)
    checkpoints = recorded_checkpoints(app)
    checked = _check_signatures(checkpoints, keys, report)
    expected = {c.position: c for c in checked}
    witness = read_witness(app.keys.directory)
    if witness is not None:
        if keys.verifies(witness):
            expected.setdefault(witness.position, witness)
        else:
            report.problem(
                "bad_witness",
                "the witness kept with the keys is not signed by this installation's key: "
                "it, or the key directory, was replaced",
                position=witness.position,
            )
    last = _walk(app, sql, expected, report)
    _check_orphan_links(sql, report)
    _check_tail(checkpoints, witness, last, report)
    _check_coverage(checked, last, keys, report)
    return report


def _check_signatures(
    checkpoints: list[Checkpoint], keys: HeadKeys, report: VerifyReport
) -> list[Checkpoint]:
    """The checkpoints whose signature this verify can check and did; the rest are counted
    as foreign (another installation's key, not trusted here)."""
    checked = []
    for checkpoint in checkpoints:
        if not keys.knows(checkpoint.key_id):
            report.checkpoints_foreign += 1
        elif keys.verifies(checkpoint):
            checked.append(checkpoint)
        else:
            report.problem(
                "bad_checkpoint_signature",
                f"checkpoint at position {checkpoint.position} has a signature "
                "that does not verify: the checkpoint was forged or edited",
                position=checkpoint.position,
            )
    return checked


def _page(app: LedgerApp, sql: LedgerSQL, after: int) -> list[Any]:
    table = sql.events_table
    if sql.postgres:
        return sql.query(
            f"SELECT e.notification_id, e.originator_id, e.originator_version, e.topic, "
            f"e.state, c.chain_hash FROM {table} e LEFT JOIN {CHAIN_TABLE} c "
            "ON c.notification_id = e.notification_id WHERE e.notification_id > ? "
            "ORDER BY e.notification_id LIMIT ?",
            (after, PAGE),
        )
    return sql.query(
        f"SELECT e.rowid, e.originator_id, e.originator_version, e.topic, e.state, "
        f"c.chain_hash FROM {table} e LEFT JOIN {CHAIN_TABLE} c ON c.notification_id = e.rowid "
        "WHERE e.rowid > ? ORDER BY e.rowid LIMIT ?",
        (after, PAGE),
    )


def _walk(
    app: LedgerApp, sql: LedgerSQL, expected: dict[int, Checkpoint], report: VerifyReport
) -> tuple[int, bytes, int]:
    """Returns (last position, recomputed head, count)."""
    from eventsourcing.persistence import StoredEvent

    recomputed, stored_previous = GENESIS, GENESIS
    versions: dict[str, int] = {}
    position, count = 0, 0
    while True:
        rows = _page(app, sql, position)
        for notification_id, originator_id, version, topic, state, chain_hash in rows:
            state = bytes(state)
            where = {
                "position": notification_id,
                "aggregate": str(originator_id),
                "version": version,
            }
            recomputed = link(recomputed, originator_id, version, topic, state)
            count += 1
            if chain_hash is None:
                report.problem(
                    "unchained_event",
                    f"event at position {notification_id} has "
                    "no chain entry: inserted outside the ledger",
                    **where,
                )
            elif link(stored_previous, originator_id, version, topic, state) != bytes(chain_hash):
                report.problem(
                    "chain_mismatch",
                    f"event at position {notification_id} does "
                    "not match its chain link: it, or the event before it, was "
                    "edited, deleted, inserted or reordered",
                    **where,
                )
            stored_previous = bytes(chain_hash) if chain_hash is not None else stored_previous
            checkpoint = expected.get(notification_id)
            if checkpoint is not None:
                report.checkpoints_checked += 1
                if checkpoint.head != recomputed or checkpoint.event_count != count:
                    report.problem(
                        "checkpoint_mismatch",
                        f"the ledger up to position "
                        f"{notification_id} no longer matches the checkpoint "
                        f"signed at {checkpoint.signed_at}: history was rewritten",
                        **where,
                    )
            _check_version(versions, str(originator_id), version, report, where)
            _check_decodes(app, StoredEvent(originator_id, version, topic, state), report, where)
            position = notification_id
        if len(rows) < PAGE:
            report.events = count
            return position, recomputed, count


def _check_version(
    versions: dict[str, int],
    aggregate: str,
    version: int,
    report: VerifyReport,
    where: dict[str, Any],
) -> None:
    previous = versions.get(aggregate, 0)
    if version != previous + 1:
        report.problem(
            "version_gap",
            f"aggregate {aggregate} jumps from version {previous} to {version}",
            **where,
        )
    versions[aggregate] = version


def _check_decodes(
    app: LedgerApp, stored: Any, report: VerifyReport, where: dict[str, Any]
) -> None:
    try:
        app.mapper.to_domain_event(stored)
    except Exception as error:  # any failure to decode is a finding, not a crash
        report.problem(
            "undecodable_event", f"event does not decode: {type(error).__name__}", **where
        )


def _check_orphan_links(sql: LedgerSQL, report: VerifyReport) -> None:
    id_column = "notification_id" if sql.postgres else "rowid"
    orphans = sql.query(
        f"SELECT notification_id FROM {CHAIN_TABLE} WHERE notification_id NOT IN "
        f"(SELECT {id_column} FROM {sql.events_table}) ORDER BY notification_id LIMIT 20"
    )
    for (notification_id,) in orphans:
        report.problem(
            "deleted_event",
            f"the event at position {notification_id} was deleted (its chain entry remains)",
            position=notification_id,
        )


def _check_tail(
    checkpoints: list[Checkpoint],
    witness: Checkpoint | None,
    last: tuple[int, bytes, int],
    report: VerifyReport,
) -> None:
    position, _, count = last
    newest = max(checkpoints, key=lambda c: c.position, default=None)
    if newest is not None and (newest.position > position or newest.event_count > count):
        report.problem(
            "truncated",
            f"the ledger ends at position {position} ({count} events) "
            f"but a checkpoint covers up to {newest.position} "
            f"({newest.event_count} events): the tail was cut off",
            position=position,
        )
    if witness is not None and (witness.event_count > count or witness.position > position):
        report.problem(
            "truncated",
            f"the witness kept with the keys covers "
            f"{witness.event_count} events up to position {witness.position}; the "
            f"ledger has {count}: the tail (and its checkpoints) were cut off",
            position=position,
        )
    in_ledger = witness is not None and any(c.signature == witness.signature for c in checkpoints)
    if witness is not None and not in_ledger and witness.event_count <= count:
        report.problem(
            "missing_checkpoint",
            "the newest checkpoint (kept in the witness) is no longer in the ledger",
            position=witness.position,
        )


def _check_coverage(
    checked: list[Checkpoint], last: tuple[int, bytes, int], keys: HeadKeys, report: VerifyReport
) -> None:
    """Every event must lie under a head this verify checked: the newest events included
    (an unkeyed chain alone is recomputed by anyone who appends)."""
    position, _, count = last
    if count == 0:
        return
    newest = max(checked, key=lambda c: c.position, default=None)
    if newest is None:
        report.problem(
            "no_own_checkpoint",
            f"no signed head of this installation (key {keys.own_id or 'none'}) or of a "
            "trusted one could be checked: the key directory is not this ledger's "
            "(restore it, run `keys adopt`, or pass --trust-key for the installation that "
            "wrote it)",
            position=position,
        )
    elif newest.position < position or newest.event_count < count:
        report.problem(
            "unsigned_tail",
            f"{count - newest.event_count} events after position {newest.position} are "
            "covered by no signature this verify can check: they were added without the "
            "key directory",
            position=position,
        )
