"""Faults of the environment, injected for real where the machine allows it (a 1 MiB tmpfs
filled up, a tmpfs remounted read-only, pages of the file overwritten, a PostgreSQL backend
terminated mid-command): each is one line on stderr and exit 4 (2 for bad usage), never 1,
and nothing recorded is lost."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.store.app import open_ledger
from recovery_ledger.infra.store.location import resolve_location

from ..conftest import (
    PG_DSN_BASE,
    REPO,
    CliResult,
    Ledger,
    drop_schema,
    require_postgres,
    run_cli,
)
from .test_store import make_token, register

CLI = (sys.executable, "-m", "recovery_ledger")


def one_line(result: CliResult, code: int = 4) -> str:
    assert result.code == code, (result.code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recovery-ledger: "), result.stderr
    assert "unexpected" not in lines[0]
    return lines[0]


def rl(ledger: Path, *args: str, stdin: str | None = None) -> CliResult:
    return run_cli(*args, "--ledger", str(ledger), stdin=stdin)


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    path = tmp_path / "ledger.sqlite"
    keys = path.with_name(path.name + ".keys")  # the default beside the file
    register(
        Ledger("sqlite", str(path), keys, path),
        "L1",
        os.getpid(),
        make_token("jti-L1"),
        "user_created",
    )
    return path


def _mount(directory: Path, *options: str) -> bool:
    command = ["mount", "-t", "tmpfs", "-o", ",".join(("size=1m", *options)), "tmpfs"]
    return subprocess.run([*command, str(directory)], capture_output=True).returncode == 0


@contextmanager
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs when this machine lets us mount one (it does as root here)."""
    directory = tmp_path / "disk"
    directory.mkdir()
    if not _mount(directory):
        pytest.fail("cannot mount a tmpfs here: run the fault tests as root")
    try:
        yield directory
    finally:
        subprocess.run(["umount", "-l", str(directory)], check=False)


def _copy_in(ledger: Path, directory: Path) -> Path:
    shutil.copy(ledger, directory / ledger.name)
    shutil.copytree(ledger.with_name(ledger.name + ".keys"), directory / (ledger.name + ".keys"))
    return directory / ledger.name


def test_disk_full_exits_4_and_loses_nothing(ledger: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        copy = _copy_in(ledger, disk)
        fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass  # the disk is full
        finally:
            os.close(fd)
        line = one_line(rl(copy, "loop", "token", "--loop", "L1", stdin=make_token("jti-2")))
        assert "full" in line or "I/O" in line or "space" in line
        (disk / "filler").unlink()
        verified = rl(copy, "verify", "--json")
        assert verified.code == 0, verified.stderr
        assert verified.json()["events"] == 2  # type: ignore[index]


def test_a_read_only_mount_serves_reads_and_refuses_writes(ledger: Path, tmp_path: Path) -> None:
    with small_disk(tmp_path) as disk:
        copy = _copy_in(ledger, disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        for command in (["loops"], ["verify"], ["audit"], ["zombies"], ["export"], ["replay"]):
            result = rl(copy, *command)
            assert result.code == 0, (command, result.stderr)
        assert "L1" in rl(copy, "loops").stdout
        line = one_line(rl(copy, "loop", "token", "--loop", "L1", stdin=make_token("jti-2")))
        assert "read-only" in line
        one_line(rl(copy, "boot"))


def test_a_read_only_ledger_written_before_snapshots_reads_its_loops(
    ledger: Path, tmp_path: Path
) -> None:
    from recovery_ledger.infra.store.snapshots import TABLE

    with small_disk(tmp_path) as disk:
        copy = _copy_in(ledger, disk)
        db = sqlite3.connect(copy)  # as a ledger written before loop snapshots
        db.execute(f"DROP TABLE {TABLE}")
        db.commit()
        db.close()  # an open file would keep the mount busy
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        token = rl(copy, "token", "get", "--loop", "L1")  # reads the loop's aggregate
        assert token.code == 0, token.stderr
        assert token.stdout.count(".") == 2  # the runner JWT, unsealed
        keys = KeyStore(copy.with_name(copy.name + ".keys"))
        app = open_ledger(resolve_location(str(copy)), keys, create=False)
        try:
            assert app.location.read_only
            assert [loop.loop_id for loop in app.open_loops()] == ["L1"]  # the boot's read
        finally:
            app.close()


def test_a_corrupt_page_exits_4(ledger: Path) -> None:
    size = ledger.stat().st_size
    with open(ledger, "r+b") as handle:
        for page in range(1, size // 4096):
            handle.seek(page * 4096)
            handle.write(b"\xa5" * 4096)
    for command in (["loops"], ["verify"], ["loop", "finalize", "--loop", "L1", "--reason", "x"]):
        assert "malformed" in one_line(rl(ledger, *command)), command


def test_an_event_state_of_the_wrong_column_type_exits_4(ledger: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(ledger)
    conn.execute("UPDATE stored_events SET state = 'not bytes' WHERE rowid = 2")
    conn.commit()
    conn.close()
    for command in (["loops"], ["export"], ["token", "get", "--loop", "L1"]):
        one_line(rl(ledger, *command))
    result = rl(ledger, "verify", "--json")
    assert result.code == 4 and "wrong_column_type" in result.stdout


@pytest.mark.parametrize(
    "damage",
    ["garbage witness", "garbage signing key", "unreadable signing key", "unreadable keys"],
)
def test_a_damaged_key_directory_exits_4(ledger: Path, damage: str) -> None:
    keys = ledger.with_name(ledger.name + ".keys")
    if damage == "garbage witness":
        (keys / "witness.json").write_text("{garbage")
    elif damage == "garbage signing key":
        (keys / "checkpoint_signing.pem").write_text("-----BEGIN garbage")
    elif damage == "unreadable signing key":  # root reads through any mode: a directory
        (keys / "checkpoint_signing.pem").unlink()
        (keys / "checkpoint_signing.pem").mkdir()
    else:
        (keys / "installation.key").unlink()
        (keys / "installation.key").mkdir()
    one_line(rl(ledger, "loop", "token", "--loop", "L1", stdin=make_token("jti-2")))
    if damage != "unreadable keys":
        one_line(rl(ledger, "verify"))
    else:
        one_line(rl(ledger, "token", "get", "--loop", "L1"))


def test_a_directory_as_ledger_exits_4() -> None:
    one_line(run_cli("loops", "--ledger", "/"))
    one_line(run_cli("boot", "--ledger", "/"))


def test_a_non_numeric_port_is_bad_usage() -> None:
    one_line(run_cli("loops", "--ledger", "postgresql://postgres@127.0.0.1:x5432/test"), code=2)


def test_disk_full_by_a_file_size_limit_also_exits_4(ledger: Path) -> None:
    """The same fault without a mount: the process may not grow any file."""

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        size = ledger.stat().st_size
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    proc = subprocess.run(
        [*CLI, "loop", "token", "--loop", "L1", "--ledger", str(ledger)],
        input=make_token("jti-big-" + "x" * 8000),
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=REPO,
        preexec_fn=limit,
        timeout=60,
        check=False,
    )
    one_line(CliResult(proc.returncode, proc.stdout, proc.stderr))
    assert rl(ledger, "verify").code == 0


@pytest.mark.postgres
def test_a_dropped_postgresql_connection_exits_4(tmp_path: Path) -> None:
    """The command's backend is terminated while it waits on a lock we hold."""
    import psycopg

    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    name = f"rl_drop_{uuid.uuid4().hex[:8]}"
    dsn = f"{PG_DSN_BASE}?schema={schema}&application_name={name}"
    keys = tmp_path / "keys"
    try:
        assert (
            run_cli(
                "loop",
                "register",
                "--loop",
                "L1",
                "--pid",
                str(os.getpid()),
                "--provenance",
                "user_created",
                "--ledger",
                dsn,
                "--keys",
                str(keys),
                stdin=make_token("jti-1"),
            ).code
            == 0
        )
        with psycopg.connect(PG_DSN_BASE) as holder:
            holder.execute(f"LOCK TABLE {schema}.recoveryledger_events IN ACCESS EXCLUSIVE MODE")
            command = subprocess.Popen(
                [*CLI, "loops", "--ledger", dsn, "--keys", str(keys)],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={**os.environ, "PYTHONPATH": str(REPO)},
                cwd=REPO,
            )
            with psycopg.connect(PG_DSN_BASE, autocommit=True) as killer:
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    waiting = killer.execute(
                        "SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                        "AND wait_event_type = 'Lock'",
                        (name,),
                    ).fetchall()
                    if waiting:
                        break
                    time.sleep(0.05)
                assert waiting, "the command never reached the locked table"
                killer.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (name,),
                )
            holder.rollback()
        stdout, stderr = command.communicate(timeout=60)
        one_line(CliResult(command.returncode, stdout, stderr))
        verified = run_cli("verify", "--ledger", dsn, "--keys", str(keys))
        assert verified.code == 0, verified.stderr
    finally:
        drop_schema(schema)
