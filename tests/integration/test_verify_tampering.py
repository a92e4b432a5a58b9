"""verify against every kind of tampering, each done with plain SQL on a copy of a real ledger."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ..conftest import Ledger, copy_built, run_cli
from .ledger_sql import cut_tail


@pytest.fixture
def copy(built_original: Path, tmp_path: Path) -> Path:
    copy_built(built_original, tmp_path / "ledger.sqlite", tmp_path / "ledger.sqlite.keys")
    return tmp_path / "ledger.sqlite"


def as_ledger(path: Path) -> Ledger:
    return Ledger("sqlite", str(path), path.with_name(path.name + ".keys"), path)


def verify(path: Path) -> tuple[int, str]:
    result = run_cli("verify", "--json", "--ledger", str(path))
    return result.code, result.stdout


def sql(path: Path, *statements: str) -> None:
    conn = sqlite3.connect(path)
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def rows(path: Path) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    found = conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state "
        "FROM stored_events ORDER BY rowid"
    ).fetchall()
    conn.close()
    return found


def test_an_untouched_ledger_verifies(copy: Path) -> None:
    code, out = verify(copy)
    assert code == 0, out
    assert '"ok": true' in out


def test_an_edited_event_is_caught(copy: Path) -> None:
    rowid, *_, state = rows(copy)[5]
    edited = state.replace(b"1", b"2", 1) if b"1" in state else state + b" "
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (edited, rowid))
    conn.commit()
    conn.close()
    code, out = verify(copy)
    assert code == 4
    assert "chain_mismatch" in out
    assert f'"position": {rowid}' in out


def test_a_deleted_event_is_caught(copy: Path) -> None:
    rowid = rows(copy)[7][0]
    sql(copy, f"DELETE FROM stored_events WHERE rowid = {rowid}")
    code, out = verify(copy)
    assert code == 4
    assert "deleted_event" in out


def test_a_deleted_event_and_its_chain_entry_are_caught(copy: Path) -> None:
    rowid = rows(copy)[7][0]
    sql(
        copy,
        f"DELETE FROM stored_events WHERE rowid = {rowid}",
        f"DELETE FROM ledger_chain WHERE notification_id = {rowid}",
    )
    code, out = verify(copy)
    assert code == 4
    assert "chain_mismatch" in out


def test_reordered_events_are_caught(copy: Path) -> None:
    a, b = rows(copy)[3], rows(copy)[4]
    conn = sqlite3.connect(copy)
    # swap the content of two rows (ids and primary keys stay valid)
    conn.execute(
        "UPDATE stored_events SET originator_id = 'x', originator_version = -1 WHERE rowid = ?",
        (a[0],),
    )
    conn.execute(
        "UPDATE stored_events SET originator_id = ?, originator_version = ?, "
        "topic = ?, state = ? WHERE rowid = ?",
        (a[1], a[2], a[3], a[4], b[0]),
    )
    conn.execute(
        "UPDATE stored_events SET originator_id = ?, originator_version = ?, "
        "topic = ?, state = ? WHERE rowid = ?",
        (b[1], b[2], b[3], b[4], a[0]),
    )
    conn.commit()
    conn.close()
    code, out = verify(copy)
    assert code == 4
    assert "chain_mismatch" in out


def test_an_inserted_event_is_caught(copy: Path) -> None:
    _, originator_id, version, topic, state = rows(copy)[-1]
    conn = sqlite3.connect(copy)
    conn.execute(
        "INSERT INTO stored_events VALUES (?, ?, ?, ?)", (originator_id, version + 1, topic, state)
    )
    conn.commit()
    conn.close()
    code, out = verify(copy)
    assert code == 4
    assert "unchained_event" in out


def test_a_chain_rewritten_consistently_after_an_edit_is_caught_by_the_signed_checkpoint(
    copy: Path,
) -> None:
    from recovery_ledger.infra.store.chain import GENESIS, link

    found = rows(copy)
    rowid, *_, state = found[2]
    conn = sqlite3.connect(copy)
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (state + b" ", rowid))
    conn.commit()
    head = GENESIS
    for rid, originator_id, version, topic, st in conn.execute(
        "SELECT rowid, originator_id, originator_version, topic, state FROM stored_events "
        "ORDER BY rowid"
    ).fetchall():
        head = link(head, originator_id, version, topic, st)
        conn.execute(
            "UPDATE ledger_chain SET chain_hash = ? WHERE notification_id = ?", (head, rid)
        )
    conn.commit()
    conn.close()
    code, out = verify(copy)
    assert code == 4
    assert "checkpoint_mismatch" in out
    assert "chain_mismatch" not in out  # the rewrite itself is internally consistent


def test_a_truncated_tail_is_caught(copy: Path) -> None:
    last = rows(copy)[-1][0]
    sql(
        copy,
        f"DELETE FROM stored_events WHERE rowid > {last - 3}",
        f"DELETE FROM ledger_chain WHERE notification_id > {last - 3}",
    )
    code, out = verify(copy)
    assert code == 4
    assert "truncated" in out


def test_a_tail_cut_off_with_its_checkpoints_is_caught_by_the_witness(copy: Path) -> None:
    cut_tail(as_ledger(copy), keep=len(rows(copy)) - 3)
    code, out = verify(copy)
    assert code == 4
    assert "witness" in out


def test_a_forged_checkpoint_signature_is_caught(copy: Path) -> None:
    sql(copy, "UPDATE ledger_checkpoints SET signature = zeroblob(64) WHERE seq = 1")
    code, out = verify(copy)
    assert code == 4
    assert "bad_checkpoint_signature" in out


@pytest.mark.both_backends
def test_verify_and_an_export_import_round_trip_on_both_backends(
    built_ledger: Ledger, tmp_path: Path
) -> None:
    env = built_ledger.env()
    assert run_cli("verify", env=env).code == 0
    exported = run_cli("export", env=env)
    assert exported.code == 0
    export_file = tmp_path / "export.jsonl"
    export_file.write_text(exported.stdout)
    target = tmp_path / "imported.sqlite"
    target_env = {
        "RECOVERY_LEDGER_DB": str(target),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / "imported.keys"),
    }
    assert run_cli("import", str(export_file), env=target_env).code == 0
    assert run_cli("verify", env=target_env).code == 0
    original = run_cli("replay", "--json", env=env).json()
    imported = run_cli("replay", "--json", env=target_env).json()
    assert original == imported
    assert (
        run_cli("audit", "--json", env=env).json()
        == run_cli("audit", "--json", env=target_env).json()
    )


def append_forged_event(path: Path) -> int:
    """An attacker without the key directory appends an event and recomputes its link."""
    from recovery_ledger.infra.store.chain import link

    _, originator_id, version, topic, state = rows(path)[-1]
    conn = sqlite3.connect(path)
    (head,) = conn.execute(
        "SELECT chain_hash FROM ledger_chain ORDER BY notification_id DESC LIMIT 1"
    ).fetchone()
    cursor = conn.execute(
        "INSERT INTO stored_events VALUES (?, ?, ?, ?)", (originator_id, version + 1, topic, state)
    )
    rowid = int(cursor.lastrowid or 0)
    conn.execute(
        "INSERT INTO ledger_chain VALUES (?, ?)",
        (rowid, link(head, originator_id, version + 1, topic, state)),
    )
    conn.commit()
    conn.close()
    return rowid


def test_a_forged_tail_with_a_recomputed_link_is_caught(copy: Path) -> None:
    append_forged_event(copy)
    code, out = verify(copy)
    assert code == 4, out
    assert "unsigned_tail" in out
    assert "chain_mismatch" not in out  # the forged link itself is consistent


def test_a_forged_tail_under_a_head_signed_with_another_key_is_caught(copy: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from recovery_ledger.infra.crypto.ledger_key import key_id_of
    from recovery_ledger.infra.store.heads import head_message

    rowid = append_forged_event(copy)
    conn = sqlite3.connect(copy)
    (head,) = conn.execute(
        "SELECT chain_hash FROM ledger_chain WHERE notification_id = ?", (rowid,)
    ).fetchone()
    (count,) = conn.execute("SELECT COUNT(*) FROM ledger_chain").fetchone()
    forger = Ed25519PrivateKey.generate()
    stamp = "2026-11-25T00:00:00.000000Z"
    conn.execute(
        "INSERT INTO ledger_checkpoints (position, event_count, head, signed_at, key_id, "
        "signature) VALUES (?, ?, ?, ?, ?, ?)",
        (
            rowid,
            count,
            head,
            stamp,
            key_id_of(forger.public_key()),
            forger.sign(head_message(rowid, count, head, stamp)),
        ),
    )
    conn.commit()
    conn.close()
    code, out = verify(copy)
    assert code == 4, out
    assert "unsigned_tail" in out


def finalize_healthy_loop(path: Path, keys: Path | None = None) -> tuple[int, str]:
    keys = keys or path.with_name(path.name + ".keys")
    result = run_cli(
        "loop", "finalize", "--loop", "revivable", "--reason", "x",
        "--ledger", str(path), "--keys", str(keys),
    )  # fmt: skip
    return result.code, result.stderr


def test_rollback_then_write_is_refused_and_verify_still_fails(copy: Path) -> None:
    last = rows(copy)[-1][0]
    cut_tail(as_ledger(copy), keep=len(rows(copy)) - 3)
    code, stderr = finalize_healthy_loop(copy)
    assert code == 4 and "rolled back" in stderr
    assert rows(copy)[-1][0] == last - 3  # nothing written
    assert verify(copy)[0] == 4


def test_a_foreign_key_directory_is_caught(copy: Path, tmp_path: Path) -> None:
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner

    other = tmp_path / "other"
    CheckpointSigner(KeyStore(other / "keys")).create()  # another installation's own key
    before = rows(copy)
    code, stderr = finalize_healthy_loop(copy, keys=other / "keys")
    assert code == 4 and "not this ledger's" in stderr
    assert rows(copy) == before
    result = run_cli("verify", "--json", "--ledger", str(copy), "--keys", str(other / "keys"))
    assert result.code == 4 and "no_own_checkpoint" in result.stdout


def test_a_wiped_ledger_file_is_caught(copy: Path) -> None:
    copy.write_bytes(b"")
    code, stderr = finalize_healthy_loop(copy)
    assert code == 4 and "wiped" in stderr
    assert copy.stat().st_size == 0
    assert run_cli("verify", "--ledger", str(copy)).code == 4


@pytest.mark.parametrize(
    "edit",
    [
        "UPDATE rl_loops SET state = 'open', finalize_reason = NULL WHERE loop_id = 'dead'",
        "INSERT INTO rl_findings (kind, loop_id, boot_id, at, detail, evidence) "
        "SELECT 'false_kill', loop_id, boot_id, observed_at, 'planted', '[]' "
        "FROM rl_decisions LIMIT 1",
        "DELETE FROM rl_decisions WHERE loop_id = 'revivable'",
        "UPDATE rl_boots SET finalized = finalized + 1",
    ],
)
def test_an_edited_projection_row_is_caught(copy: Path, edit: str) -> None:
    assert run_cli("loops", "--ledger", str(copy)).code == 0  # the projections exist
    sql(copy, edit)
    code, out = verify(copy)
    assert code == 4, out
    assert "projection_mismatch" in out
