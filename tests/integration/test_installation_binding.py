"""A ledger belongs to its installation (docs/contract.md): every write first checks the key
directory and the ledger's tail against its newest signed head and the witness, and refuses
(exit 4, nothing written) when they disagree; a lost key directory is adopted only by an
explicit, recorded act. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from ..conftest import CliResult, Ledger, run_cli
from .ledger_sql import append_forged_event, counts, cut_tail, run_sql
from .test_store import make_token, register


def cli(
    ledger: Ledger, *args: str, keys: Path | None = None, stdin: str | None = None
) -> CliResult:
    env = ledger.env()
    if keys is not None:
        env["RECOVERY_LEDGER_KEYS"] = str(keys)
    return run_cli(*args, stdin=stdin, env=env)


@pytest.fixture
def written(ledger: Ledger) -> Ledger:
    return populate(ledger)


def populate(ledger: Ledger) -> Ledger:
    """Two loops registered (this test process is their runner), one token rotated."""
    for loop_id in ("L1", "L2"):
        register(ledger, loop_id, os.getpid(), make_token(f"jti-{loop_id}"), "user_created")
    assert cli(ledger, "loop", "token", "--loop", "L1", stdin=make_token("jti-3")).code == 0
    return ledger


def refused(result: CliResult, *words: str) -> None:
    assert result.code == 4, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recovery-ledger: "), result.stderr
    for word in words:
        assert word in lines[0]


def finalize(ledger: Ledger, keys: Path | None = None) -> CliResult:
    return cli(ledger, "loop", "finalize", "--loop", "L2", "--reason", "done", keys=keys)


def test_every_write_transaction_leaves_a_signed_head_at_the_tail(written: Ledger) -> None:
    events, links, heads = counts(written)
    assert events == links
    assert heads == 3  # two registrations, one rotation: one head each
    document = cli(written, "verify", "--json").json()
    assert document["ok"] and document["checkpoints_checked"] == 3  # type: ignore[index]


def test_a_forged_tail_fails_verify_and_refuses_the_next_write(written: Ledger) -> None:
    append_forged_event(written)
    before = counts(written)
    result = cli(written, "verify", "--json")
    assert result.code == 4 and "unsigned_tail" in result.stdout
    refused(finalize(written), "changed after its newest signed head")
    assert counts(written) == before
    assert cli(written, "verify").code == 4  # never signed over


def test_rollback_then_write_is_refused_and_stays_detected(written: Ledger) -> None:
    witness = (written.keys_dir / "witness.json").read_bytes()
    cut_tail(written, keep=2)
    before = counts(written)
    refused(finalize(written), "rolled back")
    refused(cli(written, "loop", "token", "--loop", "L1", stdin=make_token("jti-9")), "rolled back")
    assert counts(written) == before
    assert (written.keys_dir / "witness.json").read_bytes() == witness
    assert cli(written, "verify").code == 4
    refused(cli(written, "loops"), "rolled back")


def test_a_lost_key_directory_refuses_writes_and_creates_nothing(written: Ledger) -> None:
    shutil.rmtree(written.keys_dir)
    before = counts(written)
    refused(finalize(written), "key adopt --i-lost-my-keys")
    assert not written.keys_dir.exists()
    assert counts(written) == before
    result = cli(written, "verify", "--json")
    assert result.code == 4 and "no_own_checkpoint" in result.stdout


def test_an_emptied_key_directory_refuses_writes(written: Ledger) -> None:
    shutil.rmtree(written.keys_dir)
    written.keys_dir.mkdir()
    refused(finalize(written), "key adopt")
    assert os.listdir(written.keys_dir) == []


def test_a_foreign_key_directory_refuses_writes_and_verify(written: Ledger, tmp_path: Path) -> None:
    other = run_cli(
        "loop",
        "register",
        "--loop",
        "X",
        "--pid",
        str(os.getpid()),
        "--provenance",
        "user_created",
        "--ledger",
        str(tmp_path / "other.sqlite"),
        "--keys",
        str(tmp_path / "other.keys"),
        stdin=make_token("jti-x"),
    )
    assert other.code == 0
    before = counts(written)
    refused(finalize(written, keys=tmp_path / "other.keys"), "not this ledger's")
    assert counts(written) == before
    result = cli(written, "verify", "--json", keys=tmp_path / "other.keys")
    assert result.code == 4 and "no_own_checkpoint" in result.stdout


def test_verify_trusts_a_foreign_installation_only_when_told(
    written: Ledger, tmp_path: Path
) -> None:
    shown = cli(written, "key", "show", "--json").json()
    x = shown["ledger_key"]["jwk"]["x"]  # type: ignore[index]
    elsewhere = tmp_path / "collector.keys"
    assert cli(written, "verify", keys=elsewhere).code == 4
    trusted = cli(written, "verify", "--json", "--trust-key", x, keys=elsewhere)
    assert trusted.code == 0, trusted.stdout
    assert trusted.json()["checkpoints_checked"] == 3  # type: ignore[index]


def test_key_adopt_is_an_explicit_recorded_takeover(written: Ledger, tmp_path: Path) -> None:
    host = (written.keys_dir / "host-id").read_text()
    shutil.rmtree(written.keys_dir)
    new_keys = tmp_path / "new.keys"
    adopted = cli(written, "key", "adopt", "--i-lost-my-keys", "--json", keys=new_keys)
    assert adopted.code == 0, adopted.stderr
    assert adopted.json()["host_id"] == host  # type: ignore[index]
    assert (new_keys / "host-id").read_text() == host
    assert cli(written, "verify", keys=new_keys).code == 0
    exported = cli(written, "export", keys=new_keys).stdout
    assert '"topic":"rl:Installation.KeysAdopted@1"' in exported
    assert finalize(written, keys=new_keys).code == 0
    assert cli(written, "verify", keys=new_keys).code == 0


def test_key_adopt_refuses_a_key_directory_that_is_not_empty(written: Ledger) -> None:
    result = cli(written, "key", "adopt", "--i-lost-my-keys")
    assert result.code == 2
    assert "empty" in result.stderr


def test_a_wiped_ledger_with_a_witness_refuses_every_write(written: Ledger) -> None:
    if written.path is not None:
        written.path.write_bytes(b"")
    else:
        for table in ("recoveryledger_events", "ledger_chain", "ledger_checkpoints"):
            run_sql(written, f"DELETE FROM {table}")
    refused(finalize(written), "wiped")
    refused(cli(written, "boot"), "wiped")
    refused(cli(written, "loops"))  # reads answer nothing from a wiped ledger either
    if written.path is not None:
        assert written.path.stat().st_size == 0
        written.path.unlink()
        refused(cli(written, "boot"), "wiped")
        assert not written.path.exists()
    else:
        assert counts(written) == (0, 0, 0)


def test_keys_must_name_a_key_directory_or_an_empty_one(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    stranger = tmp_path / "documents"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    result = run_cli(
        "loop",
        "register",
        "--loop",
        "L",
        "--pid",
        str(os.getpid()),
        "--provenance",
        "user_created",
        "--ledger",
        str(sqlite_ledger.arg),
        "--keys",
        str(stranger),
        stdin=make_token("jti"),
    )
    assert result.code == 2, result.stderr
    assert sorted(os.listdir(stranger)) == ["notes.txt"]
    assert not Path(sqlite_ledger.arg).exists()
    assert run_cli("loops", "--ledger", sqlite_ledger.arg, "--keys", "/").code == 2


def test_the_witness_holds_the_newest_signed_head(written: Ledger) -> None:
    witness = json.loads((written.keys_dir / "witness.json").read_text())
    (position, count) = run_sql(
        written, "SELECT position, event_count FROM ledger_checkpoints ORDER BY seq DESC LIMIT 1"
    )[0]
    assert (witness["position"], witness["event_count"]) == (position, count)


def test_a_snapshot_of_ledger_and_keys_together_verifies(
    sqlite_ledger: Ledger, tmp_path: Path
) -> None:
    """The limit docs/integrity.md states: restoring the ledger together with its key
    directory from an older snapshot cannot be caught on one machine (the fleet's collector
    is the witness that catches it)."""
    written = populate(sqlite_ledger)
    assert written.path is not None
    snapshot = tmp_path / "snapshot"
    snapshot.mkdir()
    shutil.copy(written.path, snapshot / "ledger.sqlite")
    shutil.copytree(written.keys_dir, snapshot / "keys")
    assert finalize(written).code == 0
    shutil.copy(snapshot / "ledger.sqlite", written.path)
    shutil.rmtree(written.keys_dir)
    shutil.copytree(snapshot / "keys", written.keys_dir)
    assert cli(written, "verify").code == 0
    assert finalize(written).code == 0
