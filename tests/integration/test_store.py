"""The store on both backends: tokens sealed at rest, crypto-shredding, private files, and a
file that is not a ledger left untouched."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
import time
from pathlib import Path

import jwt
import pytest

from recovery_ledger.infra.bootstrap import ledger_app
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.sealing import TokenSealer
from recovery_ledger.infra.errors import TokenUnavailableError
from recovery_ledger.infra.store.location import resolve_location

from ..conftest import Ledger, run_cli

pytestmark = pytest.mark.slow


def make_token(jti: str, ttl_s: int = 3600) -> str:
    return jwt.encode(
        {"jti": jti, "exp": int(time.time()) + ttl_s},
        "a-test-signing-secret-of-at-least-32-bytes",
        algorithm="HS256",
    )


def signature_forms(token: str) -> list[bytes]:
    """Every way the token's signature could show up in storage."""
    segment = token.rsplit(".", 1)[1]
    raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    return [
        segment.encode(),
        raw,
        raw.hex().encode(),
        base64.b64encode(raw).rstrip(b"="),
    ]


def stored_bytes(ledger: Ledger) -> bytes:
    """Everything the ledger holds, as bytes: the SQLite files, or every PostgreSQL row."""
    if ledger.path is not None:
        files = [ledger.path, *ledger.path.parent.glob(ledger.path.name + "-*")]
        return b"".join(f.read_bytes() for f in files if f.is_file())
    import psycopg
    from psycopg import sql

    from ..conftest import PG_DSN_BASE

    schema = ledger.arg.rsplit("schema=", 1)[1]
    chunks: list[bytes] = []
    with psycopg.connect(PG_DSN_BASE) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
        ).fetchall()
        assert tables, "the ledger's schema has no tables"
        for (table,) in tables:
            query = sql.SQL("SELECT * FROM {}.{}").format(
                sql.Identifier(schema), sql.Identifier(table)
            )
            for row in conn.execute(query):
                for value in row:
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
    return b"\n".join(chunks)


def register(
    ledger: Ledger, loop_id: str, pid: int, token: str, provenance: str = "desktop_managed"
) -> None:
    result = run_cli(
        "loop", "register", "--loop", loop_id, "--pid", str(pid),
        "--provenance", provenance, stdin=token, env=ledger.env(),
    )  # fmt: skip
    assert result.code == 0, result.stderr


@pytest.mark.both_backends
def test_register_then_read_back_and_the_token_never_rests_in_plaintext(
    ledger: Ledger, runner: subprocess.Popen[bytes]
) -> None:
    token = make_token("jti-1")
    register(ledger, "loop-a", runner.pid, token)

    listing = run_cli("loops", "--json", env=ledger.env())
    assert listing.code == 0, listing.stderr
    [row] = listing.json()["loops"]  # type: ignore[index]
    assert (row["loop_id"], row["pid"], row["state"]) == ("loop-a", runner.pid, "open")
    assert row["token"]["jti"] == "jti-1"

    got = run_cli("token", "get", "--loop", "loop-a", env=ledger.env())
    assert got.code == 0 and got.stdout == token + "\n"

    stored = stored_bytes(ledger)
    assert b"jti-1" in stored  # the check below would be vacuous if nothing were stored
    for form in signature_forms(token):
        assert form not in stored
    assert token.encode() not in stored


@pytest.mark.both_backends
def test_after_finalize_no_key_left_can_unseal_the_token(
    ledger: Ledger, runner: subprocess.Popen[bytes]
) -> None:
    token = make_token("jti-2")
    register(ledger, "loop-b", runner.pid, token)
    app = ledger_app(resolve_location(ledger.arg), KeyStore(ledger.keys_dir), create=False)
    sealed = app.get_loop("loop-b").token
    assert sealed is not None
    aggregate_id = app.get_loop("loop-b").id
    assert TokenSealer(KeyStore(ledger.keys_dir)).unseal(aggregate_id, "jti-2", sealed.sealed_token)
    app.close()

    done = run_cli(
        "loop", "finalize", "--loop", "loop-b", "--reason", "user stopped it", env=ledger.env()
    )
    assert done.code == 0, done.stderr
    cleared = run_cli("token", "get", "--loop", "loop-b", env=ledger.env())
    assert cleared.code == 2 and "cleared" in cleared.stderr and cleared.stdout == ""

    with pytest.raises(TokenUnavailableError):
        TokenSealer(KeyStore(ledger.keys_dir)).unseal(aggregate_id, "jti-2", sealed.sealed_token)
    assert not list(ledger.keys_dir.rglob(f"{aggregate_id}.dek"))
    # Every 32-byte window of every file left in the key directory, tried as the data key:
    # none opens the sealed token.
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce, body = sealed.sealed_token[1:13], sealed.sealed_token[13:]
    aad = b"rl-token:" + aggregate_id.bytes + b"jti-2"
    tried = 0
    for path in ledger.keys_dir.rglob("*"):
        data = path.read_bytes() if path.is_file() else b""
        for offset in range(max(0, len(data) - 31)):
            with pytest.raises(InvalidTag):
                AESGCM(data[offset : offset + 32]).decrypt(nonce, body, aad)
            tried += 1
    assert tried > 0  # the installation key at least was tried


def test_sqlite_ledger_wal_and_keys_are_private_whatever_the_umask(
    sqlite_ledger: Ledger, runner: subprocess.Popen[bytes]
) -> None:
    old = os.umask(0)
    try:
        register(sqlite_ledger, "loop-c", runner.pid, make_token("jti-3"))
    finally:
        os.umask(old)
    assert sqlite_ledger.path is not None
    files = [sqlite_ledger.path, *sqlite_ledger.path.parent.glob("ledger.sqlite-*")]
    import sqlite3

    with sqlite3.connect(sqlite_ledger.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(sqlite_ledger.keys_dir.stat().st_mode) == 0o700
    for path in sqlite_ledger.keys_dir.rglob("*"):
        expected = 0o700 if path.is_dir() else 0o600
        assert stat.S_IMODE(path.stat().st_mode) == expected, path


@pytest.mark.parametrize(
    "content",
    [
        b"just some notes, not a database\n",
        "sqlite_foreign",  # a real SQLite database of some other program
    ],
    ids=["text-file", "foreign-sqlite"],
)
@pytest.mark.parametrize(
    "command",
    [("loops",), ("token", "get", "--loop", "x"), ("verify",), ("loop", "register")],
    ids=["loops", "token-get", "verify", "register"],
)
def test_a_file_that_is_not_a_ledger_exits_4_and_is_left_untouched(
    tmp_path: Path, content: bytes | str, command: tuple[str, ...], runner: subprocess.Popen[bytes]
) -> None:
    path = tmp_path / "notes.db"
    if content == "sqlite_foreign":
        import sqlite3

        conn = sqlite3.connect(path)
        conn.execute("CREATE TABLE recipes (name TEXT)")
        conn.execute("INSERT INTO recipes VALUES ('bread')")
        conn.commit()
        conn.close()
    else:
        assert isinstance(content, bytes)
        path.write_bytes(content)
    before = path.read_bytes()
    args = list(command)
    stdin = None
    if command == ("loop", "register"):
        args += ["--loop", "x", "--pid", str(runner.pid), "--provenance", "user_created"]
        stdin = make_token("jti-4")
    result = run_cli(*args, "--ledger", str(path), "--keys", str(tmp_path / "keys"), stdin=stdin)
    assert result.code == 4, result.stderr
    assert "not a ledger" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "keys") == ["notes.db"]
