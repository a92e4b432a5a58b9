"""End to end: the real command line against the reference cloud over real sockets, with real
runner processes. One test per row of docs/contract.md section 4 (and the heartbeat table)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.infra.refcloud import ReferenceCloud
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key

from ..conftest import REPO, CliResult, Ledger, run_cli


@dataclass
class World:
    """A ledger, a managed key, the reference cloud and the runners of one test."""

    ledger: Ledger
    cloud: ReferenceCloud
    pop_key: Path
    runners: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def cli(self, *args: str, stdin: str | None = None) -> CliResult:
        return run_cli(*args, stdin=stdin, env=self.ledger.env())

    def add(
        self,
        loop_id: str,
        *,
        provenance: str = "desktop_managed",
        alive: bool = True,
        stale: bool = False,
        status: str = "active",
        known: bool = True,
    ) -> None:
        runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
        self.runners[loop_id] = runner
        self.cloud.add_loop(loop_id, status=status)
        token = self.cloud.issue_token(loop_id, ttl_s=-60 if stale else 3600)
        result = self.cli(
            "loop",
            "register",
            "--loop",
            loop_id,
            "--pid",
            str(runner.pid),
            "--provenance",
            provenance,
            stdin=token,
        )
        assert result.code == 0, result.stderr
        if not known:
            self.cloud.forget_loop(loop_id)
        if not alive:
            runner.kill()
            runner.wait()

    def boot(self, *extra: str, pop_key: bool = True) -> dict[str, Any]:
        args = ["boot", "--json", "--cloud", self.cloud.url, *extra]
        if pop_key:
            args += ["--pop-key", str(self.pop_key)]
        else:
            args += ["--pop-key", str(self.pop_key.with_name("absent.pem"))]
        result = self.cli(*args)
        assert result.code == 0, result.stderr
        document = result.json()
        assert isinstance(document, dict)
        return document

    def entry(self, document: dict[str, Any], loop_id: str) -> dict[str, Any]:
        return next(e for e in document["loops"] if e["loop_id"] == loop_id)


@pytest.fixture
def world(ledger: Ledger, tmp_path: Path) -> Iterator[World]:
    pop_key = tmp_path / "managed_key.pem"
    with ReferenceCloud() as cloud:
        cloud.register_key(write_managed_key(pop_key))
        w = World(ledger, cloud, pop_key)
        try:
            yield w
        finally:
            for runner in w.runners.values():
                runner.kill()
                runner.wait()


def outcome(entry: dict[str, Any]) -> tuple[str, str | None]:
    return entry["outcome"], entry["reattach_mode"] or entry["finalize_reason"]


# -- live runner: the status table ----------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", ("reattached", "confirmed")),
        ("timed_out", ("finalized", "timed_out")),
        ("completed", ("finalized", "cloud_terminal")),
        ("cancelled", ("finalized", "cloud_terminal")),
        ("failed", ("finalized", "cloud_terminal")),
    ],
)
def test_live_runner_follows_the_cloud_status(
    world: World, status: str, expected: tuple[str, str]
) -> None:
    world.add("L", status=status)
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == expected
    assert entry["heartbeat"] is None
    assert entry["cloud"] == {"http_status": 200, "status": status, "error": None}


def test_live_runner_of_a_loop_unknown_to_the_cloud_is_finalized_not_found(world: World) -> None:
    world.add("L", known=False)
    assert outcome(world.entry(world.boot(), "L")) == ("finalized", "not_found")


def test_live_runner_of_a_deleted_loop_is_finalized_gone(world: World) -> None:
    world.add("L")
    world.cloud.delete_loop("L")
    assert outcome(world.entry(world.boot(), "L")) == ("finalized", "gone")


@pytest.mark.parametrize(
    "fault",
    [{"status": 503}, {"status": 429}, {"status": 418}, {"drop": True}, {"body": "not json"}],
)
def test_transient_status_never_kills_a_live_loop(world: World, fault: dict[str, object]) -> None:
    world.add("L")
    world.cloud.inject_fault("L", endpoint="status", **fault)
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == ("reattached", "conservative")
    assert entry["classification"] == "transient"
    assert world.cloud.stats("L")["status_gets"] == 2  # one retry, never more


# -- live runner with a stale JWT: the PoP fallback ----------------------------------------------


@pytest.mark.both_backends
def test_live_managed_loop_with_stale_jwt_is_revived_with_a_fresh_token(world: World) -> None:
    world.add("L", stale=True)
    before = world.cli("token", "get", "--loop", "L").stdout.strip()
    document = world.boot()
    entry = world.entry(document, "L")
    assert entry["classification"] == "pop_fallback"
    assert entry["heartbeat"] == {"http_status": 200, "revived": True, "error": None}
    assert outcome(entry) == ("reattached", "revived")
    after = world.cli("token", "get", "--loop", "L").stdout.strip()
    assert after != before
    assert entry["token"]["jti"] != world.cloud.jti_of(before)
    assert after not in str(document)
    assert document["summary"] == {
        "examined": 1,
        "reattached": 1,
        "revived": 1,
        "finalized": 0,
        "heartbeats_posted": 1,
    }


@pytest.mark.parametrize(
    ("status", "reason"), [(401, "unauthorized"), (404, "not_found"), (410, "gone")]
)
def test_terminal_heartbeat_answer_finalizes_and_clears_the_token(
    world: World, status: int, reason: str
) -> None:
    world.add("L", stale=True)
    world.cloud.inject_fault("L", endpoint="heartbeat", status=status)
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == ("finalized", reason)
    assert entry["token"] is None
    assert world.cli("token", "get", "--loop", "L").code != 0


@pytest.mark.parametrize(
    "fault",
    [
        {"status": 500},
        {"status": 503},
        {"drop": True},
        {"revived_false": True},
        {"malformed": "jti_mismatch"},
        {"body": "not json"},
    ],
)
def test_inconclusive_heartbeat_keeps_the_loop_and_its_stale_token(
    world: World, fault: dict[str, object]
) -> None:
    world.add("L", stale=True)
    stale = world.cli("token", "get", "--loop", "L").stdout.strip()
    world.cloud.inject_fault("L", endpoint="heartbeat", **fault)
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == ("reattached", "conservative")
    assert world.cloud.stats("L")["heartbeat_posts"] == 1  # never retried
    assert world.cli("token", "get", "--loop", "L").stdout.strip() == stale


def test_live_managed_loop_without_the_key_is_finalized_unauthorized_under_v3(
    world: World,
) -> None:
    world.add("L", stale=True)
    entry = world.entry(world.boot("--policy", "v3-pop-guarded", pop_key=False), "L")
    assert outcome(entry) == ("finalized", "unauthorized")
    assert world.cloud.stats("L")["heartbeat_posts"] == 0


def test_live_user_created_loop_with_stale_jwt_gets_no_heartbeat(world: World) -> None:
    world.add("L", provenance="user_created", stale=True)
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == ("finalized", "unauthorized")
    assert entry["heartbeat"] is None
    assert world.cloud.stats("L")["heartbeat_posts"] == 0


# -- dead runner ------------------------------------------------------------------------------


@pytest.mark.both_backends
@pytest.mark.parametrize("provenance", ["desktop_managed", "user_created"])
def test_dead_runner_with_401_is_finalized_without_heartbeat(world: World, provenance: str) -> None:
    world.add("L", provenance=provenance, alive=False, stale=True)
    entry = world.entry(world.boot(), "L")
    assert entry["pid_alive"] is False
    assert outcome(entry) == ("finalized", "dead_pid")
    assert entry["heartbeat"] is None
    assert world.cloud.stats("L")["heartbeat_posts"] == 0
    assert world.cloud.stats("L")["status_gets"] == 1  # for the record


@pytest.mark.parametrize(
    ("status", "reason"),
    [("active", "dead_pid"), ("timed_out", "timed_out"), ("completed", "dead_pid")],
)
def test_dead_runner_is_finalized_whatever_the_cloud_says(
    world: World, status: str, reason: str
) -> None:
    world.add("L", alive=False, status=status)
    assert outcome(world.entry(world.boot(), "L")) == ("finalized", reason)
    assert world.cloud.stats("L")["heartbeat_posts"] == 0


# -- across boots -------------------------------------------------------------------------------


def test_second_boot_leaves_finalized_loops_alone(world: World) -> None:
    world.add("dead", alive=False)
    world.add("live")
    first = world.boot()
    assert outcome(world.entry(first, "dead")) == ("finalized", "dead_pid")
    gets_before = world.cloud.stats("dead")["status_gets"]
    second = world.boot()
    assert [e["loop_id"] for e in second["loops"]] == ["live"]
    assert world.cloud.stats("dead")["status_gets"] == gets_before


@pytest.mark.both_backends
def test_boot_killed_while_its_heartbeat_is_in_flight_is_completed_by_the_next(
    world: World,
) -> None:
    world.add("L", stale=True)
    world.cloud.inject_fault("L", endpoint="heartbeat", latency=30, times=1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recovery_ledger",
            "boot",
            "--json",
            "--cloud",
            world.cloud.url,
            "--pop-key",
            str(world.pop_key),
        ],
        env={**__import__("os").environ, "PYTHONPATH": str(REPO), **world.ledger.env()},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while world.cloud.stats("L")["heartbeat_posts"] == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert world.cloud.stats("L")["heartbeat_posts"] == 1
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert world.cli("verify").code == 0
    entry = world.entry(world.boot(), "L")
    assert outcome(entry) == ("reattached", "revived")
    zombies = world.cli("zombies", "--json").json()
    assert any(f["kind"] == "interrupted_heartbeat" for f in zombies["findings"])  # type: ignore[index]


@pytest.mark.both_backends
def test_a_second_boot_while_one_runs_exits_3_and_writes_nothing(world: World) -> None:
    world.add("L")
    # The first boot waits on its GET far longer than any machine takes to run the rest of
    # the test (on a loaded one that was once more than its default 5 s read timeout).
    world.cloud.inject_fault("L", endpoint="status", latency=600, times=1)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "recovery_ledger",
            "boot",
            "--cloud",
            world.cloud.url,
            "--read-timeout",
            "600",
            "--deadline",
            "900",
        ],
        env={**__import__("os").environ, "PYTHONPATH": str(REPO), **world.ledger.env()},
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while world.cloud.stats("L")["status_gets"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        exported_before = world.cli("export").stdout
        second = world.cli("boot", "--cloud", world.cloud.url)
        assert second.code == 3
        assert len(second.stderr.strip().splitlines()) == 1
        assert world.cli("export").stdout == exported_before
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    # kill -9 never blocks the next boot: the OS released the lock with the process
    assert world.cli("boot", "--cloud", world.cloud.url).code == 0


def test_plain_http_to_a_remote_host_is_refused_before_any_token_is_sent(world: World) -> None:
    world.add("L")
    result = world.cli("boot", "--cloud", "http://cloud.example.com")
    assert result.code == 2
    assert "http" in result.stderr
    assert world.cloud.stats("L")["status_gets"] == 0
