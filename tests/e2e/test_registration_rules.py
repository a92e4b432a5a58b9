"""Issue 11 points 7 and 8 through the real command line: registration is idempotent, tokens on
stdin and revived tokens obey one rule (16 KiB, a real algorithm, ``sub`` naming the loop),
and recorded text never reaches the terminal raw."""

# ruff: noqa: F811 - `world` is the fixture of test_boot_e2e, imported to be used here

from __future__ import annotations

import base64
import json
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest

from ..conftest import CliResult, event_count
from ..integration.test_store import make_token
from .test_boot_e2e import World, outcome, world  # noqa: F401 - the fixture

Cli = Callable[..., CliResult]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(claims: dict[str, Any], alg: str = "HS256", pad: int = 0) -> str:
    header = _b64(json.dumps({"alg": alg, "typ": "JWT"}).encode())
    body = {"exp": int(time.time()) + 3600, **claims}
    if pad:
        body["pad"] = "x" * pad
    return f"{header}.{_b64(json.dumps(body).encode())}.{_b64(b'sig')}"


def register(
    cli: Cli, loop: str, pid: int, token: str, provenance: str = "user_created"
) -> CliResult:
    return cli(
        "loop", "register", "--loop", loop, "--pid", str(pid), "--provenance", provenance,
        stdin=token,
    )  # fmt: skip


def test_registering_the_same_loop_twice_the_same_way_is_a_no_op(
    cli: Cli, runner: subprocess.Popen[bytes], ledger: Any
) -> None:
    token = make_token("jti-1")
    assert register(cli, "L", runner.pid, token).code == 0
    before = event_count(ledger.env())
    again = register(cli, "L", runner.pid, token)
    assert again.code == 0, again.stderr
    assert "already registered" in again.stdout and "nothing written" in again.stdout
    assert event_count(ledger.env()) == before
    for other in (
        register(cli, "L", runner.pid, make_token("jti-2")),  # another token
        register(cli, "L", runner.pid, token, "desktop_managed"),  # another provenance
        register(cli, "L", 1, token),  # another process
    ):
        assert other.code == 2, other.stderr
        assert "already registered" in other.stderr and other.stderr.count("\n") == 1
    assert event_count(ledger.env()) == before


@pytest.mark.parametrize(
    ("token", "why"),
    [
        (unsigned({"jti": "a"}, alg="none"), "alg"),
        (unsigned({"jti": "a"}, alg="nonsense"), "alg"),
        (unsigned({"jti": "a", "sub": "another-loop"}), "sub"),
        (unsigned({"jti": "a"}, pad=17 * 1024), "16384"),
    ],
    ids=["alg-none", "alg-unknown", "sub-another-loop", "over-16-KiB"],
)
def test_tokens_on_stdin_are_held_to_the_rules(
    cli: Cli, runner: subprocess.Popen[bytes], token: str, why: str, tmp_path: Any
) -> None:
    result = register(cli, "L", runner.pid, token)
    assert result.code == 2 and why in result.stderr and result.stderr.count("\n") == 1
    assert register(cli, "L", runner.pid, unsigned({"jti": "a", "sub": "L"})).code == 0


@pytest.mark.parametrize("bad", ["alg_none", "wrong_sub", "oversized_token"])
def test_a_revived_token_that_breaks_the_rules_is_malformed_and_the_stale_one_kept(
    world: World, bad: str
) -> None:
    world.add("L", stale=True)
    stale = world.cli("token", "get", "--loop", "L").stdout
    world.cloud.inject_fault("L", endpoint="heartbeat", malformed=bad)
    entry = world.entry(world.boot(), "L")
    assert entry["heartbeat"]["error"] == "malformed"
    assert outcome(entry) == ("reattached", "conservative")
    assert world.cli("token", "get", "--loop", "L").stdout == stale


def test_recorded_text_reaches_the_terminal_escaped(
    cli: Cli, runner: subprocess.Popen[bytes]
) -> None:
    loop = "L\x1b[2J"
    result = cli(
        "loop", "register", "--loop", "L", "--pid", str(runner.pid), "--provenance",
        "user_created", stdin=make_token("j"),
    )  # fmt: skip
    assert result.code == 0
    finalized = cli("loop", "finalize", "--loop", "L", "--reason", "wiped \x1b[2J\nscreen")
    assert finalized.code == 0, finalized.stderr
    assert "\x1b" not in finalized.stdout and "\\x1b[2J\\x0ascreen" in finalized.stdout
    assert loop  # a loop id must be printable (refused otherwise): the reason is the vector
