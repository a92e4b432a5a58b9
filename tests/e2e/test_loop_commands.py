"""`loop register|token|finalize`, `token get` and `loops` through the real command line, on
both backends: the happy path, the human tables, and every kind of bad input (exit 2, one clear
line on stderr, nothing written)."""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ..conftest import CliResult, Ledger, event_count
from ..integration.test_store import make_token

pytestmark = pytest.mark.slow

Cli = Callable[..., CliResult]


@pytest.fixture
def registered(cli: Cli, runner: subprocess.Popen[bytes]) -> str:
    token = make_token("jti-first")
    result = cli(
        "loop", "register", "--loop", "L1", "--pid", str(runner.pid),
        "--provenance", "desktop_managed", "--json", stdin=token,
    )  # fmt: skip
    assert result.code == 0, result.stderr
    return token


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_the_life_of_a_loop(cli: Cli, runner: subprocess.Popen[bytes], registered: str) -> None:
    assert cli("token", "get", "--loop", "L1").stdout == registered + "\n"
    as_json = cli("token", "get", "--loop", "L1", "--json").json()
    assert as_json == {"schema_version": 1, "loop_id": "L1", "token": registered}

    rotated = make_token("jti-second")
    result = cli("loop", "token", "--loop", "L1", "--json", stdin=rotated)
    assert result.code == 0, result.stderr
    view = result.json()
    assert isinstance(view, dict)
    assert view["token"]["jti"] == "jti-second" and view["token"]["source"] == "rotated"
    assert rotated not in result.stdout
    assert cli("token", "get", "--loop", "L1").stdout.strip() == rotated

    loops = cli("loops", "--json").json()
    assert isinstance(loops, dict)
    [row] = loops["loops"]
    assert row["state"] == "open" and row["token"]["jti"] == "jti-second"
    assert row["provenance"] == "desktop_managed" and row["pid"] == runner.pid

    table = cli("loops")
    assert table.code == 0
    header, first = table.stdout.splitlines()[:2]
    assert header.split()[:4] == ["LOOP", "PROVENANCE", "PID", "STATE"]
    assert "L1" in first and "open" in first and "jti-second" in first

    done = cli("loop", "finalize", "--loop", "L1", "--reason", "user closed the window")
    assert done.code == 0 and "finalized loop L1" in done.stdout
    loops = cli("loops", "--json").json()
    assert isinstance(loops, dict)
    [row] = loops["loops"]
    assert row["state"] == "finalized" and row["finalize_reason"] == "user closed the window"
    assert row["token"] is None and row["token_cleared"] is True


def test_no_command_prints_a_token_except_token_get(cli: Cli, registered: str) -> None:
    for args in (("loops",), ("loops", "--json"), ("export",), ("audit", "--format", "csv")):
        result = cli(*args)
        assert result.code == 0, (args, result.stderr)
        assert registered not in result.stdout + result.stderr
        assert registered.rsplit(".", 1)[1] not in result.stdout + result.stderr


def _jwt(header: bytes, payload: bytes) -> str:
    return f"{_b64(header)}.{_b64(payload)}.c2ln"


HS = b'{"alg":"HS256"}'
BAD_TOKENS = {
    "empty": "",
    "whitespace only": "   \n",
    "not a JWT": "hello",
    "two segments": "a.b",
    "header not JSON": _jwt(b"nope", b"{}"),
    "no jti": _jwt(HS, b'{"exp":2000000000}'),
    "no exp": _jwt(HS, b'{"jti":"j"}'),
    "string exp": _jwt(HS, b'{"jti":"j","exp":"soon"}'),
    "payload a list": _jwt(HS, b"[1]"),
    "not ASCII": "\u00e9.\u00e9.\u00e9",
}


@pytest.mark.parametrize("token", BAD_TOKENS.values(), ids=BAD_TOKENS.keys())
def test_a_bad_token_is_refused_and_nothing_is_written(
    ledger: Ledger, cli: Cli, registered: str, runner: subprocess.Popen[bytes], token: str
) -> None:
    before = event_count(ledger.env())
    register = ["loop", "register", "--loop", "L2", "--pid", str(runner.pid)]
    for args in ([*register, "--provenance", "user_created"], ["loop", "token", "--loop", "L1"]):
        result = cli(*args, stdin=token)
        assert result.code == 2, (args, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stdout == ""
        if token.strip():
            assert token.strip() not in result.stderr  # never echo what might be a token
    assert event_count(ledger.env()) == before
    assert cli("token", "get", "--loop", "L1").stdout.strip() == registered


def _bad_invocations(pid: int) -> dict[str, tuple[list[str], str | None, str]]:
    token = make_token("jti-new")

    def register(loop: str, pid_text: str, *provenance: str) -> list[str]:
        return ["loop", "register", "--loop", loop, "--pid", pid_text, *provenance]

    user = ("--provenance", "user_created")
    return {
        "duplicate registration": (register("L1", str(pid), *user), token, "already registered"),
        "pid zero": (register("L2", "0", *user), token, "pid"),
        "pid negative": (register("L2", "-5", *user), token, "pid"),
        "pid not a number": (register("L2", "12ab", *user), token, "pid"),
        "pid of no process": (register("L2", "4194303", *user), token, "no running process"),
        "unknown provenance": (
            register("L2", str(pid), "--provenance", "cloud"),
            token,
            "provenance",
        ),
        "missing provenance": (register("L2", str(pid)), token, "provenance"),
        "empty loop id": (register("", str(pid), *user), token, "--loop"),
        "token for unknown loop": (["loop", "token", "--loop", "nope"], token, "unknown loop"),
        "finalize unknown loop": (
            ["loop", "finalize", "--loop", "nope", "--reason", "x"],
            None,
            "unknown loop",
        ),
        "finalize with empty reason": (
            ["loop", "finalize", "--loop", "L1", "--reason", " "],
            None,
            "reason",
        ),
        "token get unknown loop": (["token", "get", "--loop", "nope"], None, "unknown loop"),
        "unknown option": (["loops", "--colour"], None, "unrecognized arguments"),
        "unknown command": (["loopz"], None, "did you mean 'loop'"),
    }


def test_every_bad_invocation_exits_2_with_one_line_and_writes_nothing(
    ledger: Ledger, cli: Cli, registered: str, runner: subprocess.Popen[bytes]
) -> None:
    before = event_count(ledger.env())
    for name, (args, stdin, expected) in _bad_invocations(runner.pid).items():
        result = cli(*args, stdin=stdin)
        assert result.code == 2, (name, result.code, result.stderr)
        assert result.stderr.startswith("recovery-ledger"), name
        assert result.stderr.count("\n") == 1, (name, result.stderr)
        assert expected in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr and result.stdout == "", name
    assert event_count(ledger.env()) == before
    listing = cli("loops", "--json").json()
    assert isinstance(listing, dict)
    assert [row["loop_id"] for row in listing["loops"]] == ["L1"]


def test_a_finalized_loop_refuses_everything_but_reading(
    ledger: Ledger, cli: Cli, registered: str
) -> None:
    assert cli("loop", "finalize", "--loop", "L1", "--reason", "done").code == 0
    before = event_count(ledger.env())
    again = cli("loop", "finalize", "--loop", "L1", "--reason", "again")
    assert again.code == 2 and "already finalized" in again.stderr
    token = cli("loop", "token", "--loop", "L1", stdin=make_token("jti-late"))
    assert token.code == 2 and "already finalized" in token.stderr
    get = cli("token", "get", "--loop", "L1")
    assert get.code == 2 and "cleared" in get.stderr
    assert event_count(ledger.env()) == before


def test_reading_commands_on_a_missing_ledger_exit_4_and_create_nothing(tmp_path: Path) -> None:
    from ..conftest import run_cli

    missing = tmp_path / "nowhere.sqlite"
    for args in (("loops",), ("token", "get", "--loop", "x"), ("verify",)):
        result = run_cli(*args, "--ledger", str(missing), "--keys", str(tmp_path / "k"))
        assert result.code == 4, (args, result.stderr)
        assert "no ledger" in result.stderr and result.stderr.count("\n") == 1
    assert not missing.exists()


@pytest.mark.parametrize(
    "args",
    [("loops",), ("boot", "--cloud", "http://127.0.0.1:9"), ("audit",), ("verify",)],
    ids=["loops", "boot", "audit", "verify"],
)
def test_an_unreachable_postgresql_ledger_exits_4_with_one_line(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    from ..conftest import run_cli

    dsn = "postgresql://postgres@127.0.0.1:1/test?schema=nowhere"  # nothing listens on port 1
    result = run_cli(*args, "--ledger", dsn, "--keys", str(tmp_path / "keys"))
    assert result.code == 4, result.stderr
    assert result.stderr.count("\n") == 1 and "cannot reach the PostgreSQL ledger" in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
