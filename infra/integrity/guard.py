"""Before any write: the key directory is this ledger's own, and the ledger still holds
everything its newest signed head and the witness say it held (docs/contract.md, "A ledger
belongs to its installation").

Cheap by design (a handful of indexed reads, one signature check), so every write command
can afford it: it checks the tail, where a write would sign over a problem. What lies
deeper (an edited event in the middle) a write cannot launder, because no new head ever
matches a chain recomputed over the edit; ``verify`` keeps reporting it.
"""

from __future__ import annotations

from pathlib import Path

from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner
from recovery_ledger.infra.errors import LedgerRefusedError
from recovery_ledger.infra.integrity.sql import LedgerSQL
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.chain import CHAIN_TABLE, CHECKPOINT_TABLE
from recovery_ledger.infra.store.heads import Checkpoint
from recovery_ledger.infra.store.witness import read_witness

RECOVER = (
    "restore the key directory from its backup; if it is lost for good, record that with "
    "`recovery-ledger key adopt --i-lost-my-keys --keys NEW_EMPTY_DIR`"
)


def refuse_wiped(keys_dir: Path, events_found: int, where: str) -> None:
    """A ledger with fewer events than the witness says it held was wiped or cut."""
    witness = read_witness(keys_dir)
    if witness is not None and witness.event_count > events_found:
        raise LedgerRefusedError(
            f"{where} holds {events_found} events but the witness in {keys_dir} says it held "
            f"{witness.event_count}: the ledger was wiped or cut back; nothing was written "
            "(restore the ledger from a backup)"
        )


def check_before_write(app: LedgerApp) -> None:
    """Raise LedgerRefusedError (exit 4) unless a write may go ahead."""
    sql = LedgerSQL.for_app(app)
    keys_dir = app.keys.directory
    # The witness first: it moves only after its transaction committed, so read before the
    # ledger it never runs ahead of it while other writers commit.
    witness = read_witness(keys_dir)
    newest, last_event = _newest_head_and_last_event(sql)
    if newest is None and last_event == 0:
        if witness is not None and witness.event_count > 0:
            refuse_wiped(keys_dir, 0, f"the ledger {app.location.describe()}")
        return
    signer = CheckpointSigner(app.keys)
    own = signer.key_id()
    if own is None:
        raise LedgerRefusedError(
            f"the key directory {keys_dir} holds no signing key of this ledger (missing, "
            f"emptied or new) but the ledger holds signed events; nothing was written: {RECOVER}"
        )
    if newest is None:
        raise LedgerRefusedError(
            "the ledger holds events but no signed head: they were written without a key "
            "directory; nothing was written (run `verify`)"
        )
    if newest.key_id != own:
        _refuse_foreign(sql, keys_dir, own, newest)
    if not signer.verify(newest.message(), newest.signature):
        raise LedgerRefusedError(
            f"the newest signed head (position {newest.position}) does not verify with this "
            "installation's key: it was forged; nothing was written (run `verify`)"
        )
    if last_event != newest.position or _link_at(sql, newest.position) != newest.head:
        raise LedgerRefusedError(
            f"the ledger was changed after its newest signed head (position {newest.position}, "
            f"now ending at {last_event}) without this installation's key; nothing was "
            "written (run `verify`)"
        )
    if witness is not None:
        _check_witness(sql, keys_dir, witness, newest)


def _refuse_foreign(sql: LedgerSQL, keys_dir: Path, own: str, newest: Checkpoint) -> None:
    signed_by_us = sql.query(f"SELECT 1 FROM {CHECKPOINT_TABLE} WHERE key_id = ? LIMIT 1", (own,))
    if signed_by_us:
        raise LedgerRefusedError(
            f"the newest events (up to position {newest.position}) are signed by "
            f"{newest.key_id}, not by this installation ({own}): they were appended without "
            "this key directory; nothing was written (run `verify`)"
        )
    raise LedgerRefusedError(
        f"the key directory {keys_dir} is not this ledger's (its key {own} signed none of the "
        f"ledger's heads; the newest is signed by {newest.key_id}); nothing was written: pass "
        f"the ledger's own --keys, or {RECOVER}"
    )


def _check_witness(sql: LedgerSQL, keys_dir: Path, witness: Checkpoint, newest: Checkpoint) -> None:
    if witness.event_count > newest.event_count or witness.position > newest.position:
        raise LedgerRefusedError(
            f"the ledger holds {newest.event_count} signed events but the witness in "
            f"{keys_dir} says it held {witness.event_count}: it was rolled back; nothing was "
            "written (restore the ledger from a backup)"
        )
    if _link_at(sql, witness.position) != witness.head:
        raise LedgerRefusedError(
            f"the ledger's history up to position {witness.position} differs from what the "
            "witness recorded: it was rewritten; nothing was written (run `verify`)"
        )


def _newest_head_and_last_event(sql: LedgerSQL) -> tuple[Checkpoint | None, int]:
    """One statement, so one snapshot: another writer committing in between cannot make
    the ledger look extended past its head."""
    id_column = "notification_id" if sql.postgres else "rowid"
    rows = sql.query(
        f"SELECT (SELECT MAX({id_column}) FROM {sql.events_table}), c.position, "
        "c.event_count, c.head, c.signed_at, c.key_id, c.signature "
        f"FROM (SELECT 1 AS one) AS anchor LEFT JOIN (SELECT * FROM {CHECKPOINT_TABLE} "
        "ORDER BY seq DESC LIMIT 1) AS c ON 1 = 1"
    )
    last, *head = rows[0]
    if head[0] is None:
        return None, int(last or 0)
    checkpoint = Checkpoint(
        int(head[0]), int(head[1]), bytes(head[2]), str(head[3]), str(head[4]), bytes(head[5])
    )
    return checkpoint, int(last or 0)


def _last_event_position(sql: LedgerSQL) -> int:
    id_column = "notification_id" if sql.postgres else "rowid"
    rows = sql.query(f"SELECT MAX({id_column}) FROM {sql.events_table}")
    return int(rows[0][0] or 0)


def _link_at(sql: LedgerSQL, position: int) -> bytes | None:
    rows = sql.query(f"SELECT chain_hash FROM {CHAIN_TABLE} WHERE notification_id = ?", (position,))
    return bytes(rows[0][0]) if rows else None


def check_not_cut_back(app: LedgerApp) -> None:
    """Every command, reads too: a ledger that ends before what this installation's witness
    says it held was wiped or rolled back, and answers nothing (exit 4)."""
    witness = read_witness(app.keys.directory)
    if witness is None:
        return
    sql = LedgerSQL.for_app(app)
    if _last_event_position(sql) >= witness.position:
        return
    if sql.query(
        f"SELECT 1 FROM {CHECKPOINT_TABLE} WHERE key_id = ? LIMIT 1", (witness.key_id,)
    ) or (_last_event_position(sql) == 0):
        raise LedgerRefusedError(
            f"the ledger {app.location.describe()} ends before position {witness.position}, "
            f"which the witness in {app.keys.directory} says it held: it was wiped or rolled "
            "back (restore it from a backup)"
        )
