"""The boot service with honest fakes for the cloud, the probe, the signer and the clock,
and the real ledger (SQLite): record-then-act order, batching, retries, the deadline."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer
from recovery_ledger.infra.boot.ports import PopKey
from recovery_ledger.infra.boot.service import BootResult, BootService, BootSettings
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.store.app import LedgerApp, open_ledger
from recovery_ledger.infra.store.location import resolve_location


def runner_token(jti: str | None = None, ttl_s: int = 3600) -> str:
    claims = {"jti": jti or uuid.uuid4().hex, "exp": int(time.time()) + ttl_s, "sub": "loop"}
    return jwt.encode(claims, "test-only-secret-not-the-clouds-key-" * 2, algorithm="HS256")


@dataclass
class FakeHeartbeatResult:
    answer: HeartbeatAnswer
    fresh_token: str | None = None


@dataclass
class FakeCloud:
    """Answers per loop from queues; records every call and what the ledger held then."""

    ledger_arg: str
    keys: KeyStore
    statuses: dict[str, list[StatusAnswer]] = field(default_factory=dict)
    heartbeats: dict[str, FakeHeartbeatResult] = field(default_factory=dict)
    hang_s: float = 0.0
    gets: dict[str, int] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    begun_before_post: dict[str, bool] = field(default_factory=dict)

    def heartbeat_url(self, loop_id: str) -> str:
        return f"http://127.0.0.1:1/v1/loops/{loop_id}/heartbeat"

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer:
        self.gets[loop_id] = self.gets.get(loop_id, 0) + 1
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        queue = self.statuses.get(loop_id) or [StatusAnswer(200, "active")]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def post_heartbeat(
        self, loop_id: str, stale_token: str, stale_jti: str, proof_jwt: str, now: datetime
    ) -> FakeHeartbeatResult:
        self.posts[loop_id] = self.posts.get(loop_id, 0) + 1
        # Read the ledger through a separate connection: is the heartbeat committed as begun?
        reader = open_ledger(resolve_location(self.ledger_arg), self.keys, create=False)
        try:
            events = list(reader.events.get(reader.get_loop(loop_id).id))
        finally:
            reader.close()
        self.begun_before_post[loop_id] = isinstance(events[-1], Loop.PopHeartbeatBegun)
        return self.heartbeats.get(loop_id, FakeHeartbeatResult(HeartbeatAnswer(500)))


@dataclass
class FakeProbe:
    alive: dict[int, bool]

    def probe(self, pid: int, recorded_start_time: float) -> LivenessObservation:
        live = self.alive.get(pid, True)
        return LivenessObservation(live, "running" if live else "no_such_process")


@dataclass
class FakeProof:
    jwt: str
    jti: str


class FakeSigner:
    def sign_proof(self, htu: str, runner_token: str, now: int) -> FakeProof:
        return FakeProof("header.payload.signature", uuid.uuid4().hex)


class FixedClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class CountingApp(LedgerApp):
    transactions = 0

    def save_boot_progress(self, *aggregates: Loop | Boot) -> None:
        type(self).transactions += 1
        super().save_boot_progress(*aggregates)


Setup = tuple[CountingApp, FakeCloud]


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    arg = str(tmp_path / "ledger.sqlite")
    keys = KeyStore(tmp_path / "keys")
    location = resolve_location(arg)
    from recovery_ledger.infra.store.location import check_sqlite_file

    assert location.path is not None
    check_sqlite_file(location.path, create=True)
    CountingApp.transactions = 0
    app = CountingApp(location, keys)
    cloud = FakeCloud(arg, keys)
    yield app, cloud
    app.close()


def register(
    app: LedgerApp,
    loop_id: str,
    pid: int,
    provenance: str = "desktop_managed",
    host_id: str = "host-a",
) -> str:
    token = runner_token()
    app.register_loop(
        loop_id=loop_id,
        provenance=provenance,
        pid=pid,
        pid_start_time=1.0,
        host_id=host_id,
        token=token,
    )
    return token


def boot(
    app: LedgerApp,
    cloud: FakeCloud,
    alive: dict[int, bool],
    *,
    policy: str = "v3-pop-guarded",
    pop: bool = True,
    deadline_s: float = 10.0,
) -> BootResult:
    settings = BootSettings(
        policy=policy,
        host_id="host-a",
        host_name="test",
        app_version="t",
        cloud_url="http://127.0.0.1:1",
        deadline_s=deadline_s,
        request_timeout_s=1.0,
    )
    pop_key = PopKey(FakeSigner(), "available") if pop else PopKey(None, "missing")
    service = BootService(
        app, settings, cloud=cloud, probe=FakeProbe(alive), pop_key=pop_key, clock=FixedClock()
    )
    return asyncio.run(service.run())


def outcome_of(result: BootResult, loop_id: str) -> tuple[str | None, str | None]:
    run = next(r for r in result.runs if r.loop.loop_id == loop_id)
    assert run.decision is not None and run.decision.outcome is not None
    return run.decision.outcome.reattach_mode, run.decision.outcome.finalize_reason


def test_live_managed_loop_with_stale_jwt_is_revived_and_heartbeat_was_committed_first(
    setup: Setup,
) -> None:
    app, cloud = setup
    stale = register(app, "L1", pid=101)
    fresh = runner_token(jti="fresh-jti")
    cloud.statuses["L1"] = [StatusAnswer(401)]
    cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)

    result = boot(app, cloud, {101: True})

    assert outcome_of(result, "L1") == ("revived", None)
    assert cloud.begun_before_post == {"L1": True}
    assert app.current_token("L1") == fresh != stale
    revived = app.get_loop("L1").token
    assert revived is not None and revived.source == "revived"


def test_a_boot_leaves_the_loops_of_other_hosts_alone(setup: Setup) -> None:
    app, cloud = setup
    register(app, "mine", pid=101)
    register(app, "theirs", pid=102, host_id="host-b")
    cloud.statuses["mine"] = [StatusAnswer(200, "active")]

    result = boot(app, cloud, {101: True, 102: False})  # pid 102 means nothing on host-a

    assert [r.loop.loop_id for r in result.runs] == ["mine"]
    assert result.summary["examined"] == 1
    theirs = app.get_loop("theirs")
    assert not theirs.is_finalized and theirs.token is not None
    assert "theirs" not in cloud.gets


def test_dead_managed_loop_with_401_is_finalized_without_heartbeat(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    cloud.statuses["L1"] = [StatusAnswer(401)]

    result = boot(app, cloud, {101: False})

    assert outcome_of(result, "L1") == (None, "dead_pid")
    assert cloud.posts == {}
    assert app.get_loop("L1").token is None
    assert not app.keys.has_data_key(app.get_loop("L1").id)


def test_v2_posts_for_dead_runner_then_finalizes_the_revived_loop(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    cloud.statuses["L1"] = [StatusAnswer(401)]
    cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), runner_token())

    result = boot(app, cloud, {101: False}, policy="v2-pop-unguarded")

    assert cloud.posts == {"L1": 1}
    assert outcome_of(result, "L1") == (None, "dead_pid")
    kinds = [type(e).__name__ for e in app.events.get(app.get_loop("L1").id)]
    assert kinds[-4:] == ["PopHeartbeatPosted", "TokenRevived", "Finalized", "TokenCleared"]


def test_server_error_on_heartbeat_keeps_loop_and_stale_token_and_is_not_retried(
    setup: Setup,
) -> None:
    app, cloud = setup
    stale = register(app, "L1", pid=101)
    cloud.statuses["L1"] = [StatusAnswer(401)]
    cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(503))

    result = boot(app, cloud, {101: True})

    assert outcome_of(result, "L1") == ("conservative", None)
    assert cloud.posts == {"L1": 1}
    assert app.current_token("L1") == stale


def test_transient_status_is_retried_once_and_never_more(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    register(app, "L2", pid=102)
    cloud.statuses["L1"] = [StatusAnswer(None, error="network"), StatusAnswer(200, "active")]
    cloud.statuses["L2"] = [StatusAnswer(503)]

    result = boot(app, cloud, {101: True, 102: True})

    assert cloud.gets == {"L1": 2, "L2": 2}
    assert outcome_of(result, "L1") == ("confirmed", None)
    assert outcome_of(result, "L2") == ("conservative", None)


def test_loops_not_answered_by_the_deadline_are_transient_and_kept(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    cloud.hang_s = 30

    started = time.monotonic()
    result = boot(app, cloud, {101: True}, deadline_s=0.3)

    assert time.monotonic() - started < 10  # generous: proves the 30 s hang was cut off
    assert outcome_of(result, "L1") == ("conservative", None)
    assert result.runs[0].answers == [StatusAnswer(None, error="timeout")]


def test_many_loops_are_recorded_in_a_handful_of_transactions(setup: Setup) -> None:
    app, cloud = setup
    for i in range(40):
        register(app, f"L{i}", pid=1000 + i)
        cloud.statuses[f"L{i}"] = [StatusAnswer(401)]
        cloud.heartbeats[f"L{i}"] = FakeHeartbeatResult(HeartbeatAnswer(200, False))
    CountingApp.transactions = 0

    result = boot(app, cloud, {})

    assert result.summary["examined"] == 40
    assert result.summary["heartbeats_posted"] == 40
    assert CountingApp.transactions == 5  # started, observations, begun, answers, completed


def test_second_boot_leaves_finalized_loops_alone(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    register(app, "L2", pid=102)
    cloud.statuses["L1"] = [StatusAnswer(410)]
    first = boot(app, cloud, {101: True, 102: True})
    assert outcome_of(first, "L1") == (None, "gone")
    cloud.gets.clear()

    second = boot(app, cloud, {101: True, 102: True})

    assert [run.loop.loop_id for run in second.runs] == ["L2"]
    assert "L1" not in cloud.gets
    assert app.get_loop("L1").finalize_reason == "gone"


def test_boot_is_recorded_started_and_completed_with_its_policy(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)

    result = boot(app, cloud, {101: True}, policy="v1-legacy")

    recorded: Boot = app.repository.get(result.boot_id)
    assert recorded.policy == "v1-legacy"
    assert recorded.loop_ids == ["L1"]
    assert recorded.summary == result.summary


def test_revived_answer_uses_new_expiry_in_report(setup: Setup) -> None:
    app, cloud = setup
    register(app, "L1", pid=101)
    cloud.statuses["L1"] = [StatusAnswer(401)]
    fresh = runner_token(jti="fresh", ttl_s=7200)
    cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)

    result = boot(app, cloud, {101: True})

    from recovery_ledger.infra.boot.report import boot_document

    entry = boot_document(result)["loops"][0]
    assert entry["token"]["jti"] == "fresh"
    assert fresh not in str(boot_document(result))
    assert entry["heartbeat"] == {"http_status": 200, "revived": True, "error": None}
    expires = datetime.fromisoformat(entry["token"]["expires_at"].replace("Z", "+00:00"))
    assert expires > datetime.now(UTC) + timedelta(hours=1)
