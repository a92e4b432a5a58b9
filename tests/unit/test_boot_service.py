"""The boot service over in-memory fakes of every port: record-then-act order, batching,
retries, the deadline, other hosts' loops. No file, socket or process: a unit test."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import pytest

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.observations import HeartbeatAnswer, Provenance, StatusAnswer
from recovery_ledger.infra.boot.ports import PopKey
from recovery_ledger.infra.boot.service import BootResult, BootService, BootSettings
from recovery_ledger.infra.errors import TokenUnavailableError

from .boot_fakes import (
    FakeCloud,
    FakeHeartbeatResult,
    FakeProbe,
    FakeSigner,
    InMemoryLedger,
    InMemorySealer,
    SystemTimeClock,
    runner_token,
)


class World:
    def __init__(self) -> None:
        self.ledger = InMemoryLedger()
        self.sealer = InMemorySealer()
        self.cloud = FakeCloud(self.ledger)

    def register(
        self,
        loop_id: str,
        pid: int,
        provenance: Provenance = "desktop_managed",
        host: str = "host-a",
    ) -> str:
        return self.ledger.register(self.sealer, loop_id, pid, provenance, host)

    def token(self, loop_id: str) -> str:
        loop = self.ledger.loop(loop_id)
        assert loop.token is not None
        return self.sealer.unseal(loop.id, loop.token.jti, loop.token.sealed_token)

    def boot(
        self,
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
        )
        pop_key = PopKey(FakeSigner(), "available") if pop else PopKey(None, "missing")
        service = BootService(
            self.ledger,
            settings,
            sealer=self.sealer,
            cloud=self.cloud,
            probe=FakeProbe(alive),
            pop_key=pop_key,
            clock=SystemTimeClock(),
        )
        return asyncio.run(service.run())


@pytest.fixture
def world() -> World:
    return World()


def outcome_of(result: BootResult, loop_id: str) -> tuple[str | None, str | None]:
    run = next(r for r in result.runs if r.loop.loop_id == loop_id)
    assert run.decision is not None and run.decision.outcome is not None
    return run.decision.outcome.reattach_mode, run.decision.outcome.finalize_reason


def test_live_managed_loop_with_stale_jwt_is_revived_and_heartbeat_was_committed_first(
    world: World,
) -> None:
    stale = world.register("L1", pid=101)
    fresh = runner_token(jti="fresh-jti")
    world.cloud.statuses["L1"] = [StatusAnswer(401)]
    world.cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)

    result = world.boot({101: True})

    assert outcome_of(result, "L1") == ("revived", None)
    assert world.cloud.begun_before_post == {"L1": True}
    assert world.token("L1") == fresh != stale
    token = world.ledger.loop("L1").token
    assert token is not None and token.source == "revived" and token.jti == "fresh-jti"


def test_no_repr_of_a_boot_shows_a_token_and_the_result_names_no_loop(world: World) -> None:
    stale = world.register("L1", pid=101)
    fresh = runner_token(jti="fresh-jti")
    world.cloud.statuses["L1"] = [StatusAnswer(401)]
    world.cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)

    result = world.boot({101: True})

    (run,) = result.runs
    assert run.token == stale and run.fresh_token == fresh and run.proof_jwt
    for shown in (repr(run), repr(result)):
        assert stale not in shown and fresh not in shown and run.proof_jwt not in shown
    # asyncio puts the boot's result into its task's repr: that must not list every loop.
    assert "L1" not in repr(result) and "1 loops" in repr(result)


def test_a_boot_leaves_the_loops_of_other_hosts_alone(world: World) -> None:
    world.register("mine", pid=101)
    world.register("theirs", pid=102, host="host-b")
    world.cloud.statuses["mine"] = [StatusAnswer(200, "active")]

    result = world.boot({101: True, 102: False})  # pid 102 means nothing on host-a

    assert [r.loop.loop_id for r in result.runs] == ["mine"]
    assert result.summary["examined"] == 1
    theirs = world.ledger.loop("theirs")
    assert not theirs.is_finalized and theirs.token is not None
    assert "theirs" not in world.cloud.gets


def test_dead_managed_loop_with_401_is_finalized_without_heartbeat_and_its_key_shredded(
    world: World,
) -> None:
    world.register("L1", pid=101)
    world.cloud.statuses["L1"] = [StatusAnswer(401)]

    result = world.boot({101: False})

    assert outcome_of(result, "L1") == (None, "dead_pid")
    assert world.cloud.posts == {}
    loop = world.ledger.loop("L1")
    assert loop.token is None
    assert not world.sealer.has_key(loop.id)


def test_v2_posts_for_dead_runner_then_finalizes_the_revived_loop(world: World) -> None:
    world.register("L1", pid=101)
    world.cloud.statuses["L1"] = [StatusAnswer(401)]
    world.cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), runner_token())

    result = world.boot({101: False}, policy="v2-pop-unguarded")

    assert world.cloud.posts == {"L1": 1}
    assert outcome_of(result, "L1") == (None, "dead_pid")
    assert world.ledger.committed_kinds("L1")[-4:] == [
        "PopHeartbeatPosted",
        "TokenRevived",
        "Finalized",
        "TokenCleared",
    ]


def test_server_error_on_heartbeat_keeps_loop_and_stale_token_and_is_not_retried(
    world: World,
) -> None:
    stale = world.register("L1", pid=101)
    world.cloud.statuses["L1"] = [StatusAnswer(401)]
    world.cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(503))

    result = world.boot({101: True})

    assert outcome_of(result, "L1") == ("conservative", None)
    assert world.cloud.posts == {"L1": 1}
    assert world.token("L1") == stale


def test_transient_status_is_retried_once_and_never_more(world: World) -> None:
    world.register("L1", pid=101)
    world.register("L2", pid=102)
    world.cloud.statuses["L1"] = [StatusAnswer(None, error="network"), StatusAnswer(200, "active")]
    world.cloud.statuses["L2"] = [StatusAnswer(503)]

    result = world.boot({101: True, 102: True})

    assert world.cloud.gets == {"L1": 2, "L2": 2}
    assert outcome_of(result, "L1") == ("confirmed", None)
    assert outcome_of(result, "L2") == ("conservative", None)


def test_loops_not_answered_by_the_deadline_are_transient_and_kept(world: World) -> None:
    world.register("L1", pid=101)
    world.cloud.hang_s = 30

    started = time.monotonic()
    result = world.boot({101: True}, deadline_s=0.3)

    assert time.monotonic() - started < 10  # generous: proves the 30 s hang was cut off
    assert outcome_of(result, "L1") == ("conservative", None)
    assert result.runs[0].answers == [StatusAnswer(None, error="timeout")]


def test_many_loops_are_recorded_in_five_transactions(world: World) -> None:
    for i in range(40):
        world.register(f"L{i}", pid=1000 + i)
        world.cloud.statuses[f"L{i}"] = [StatusAnswer(401)]
        world.cloud.heartbeats[f"L{i}"] = FakeHeartbeatResult(HeartbeatAnswer(200, False))
    world.ledger.transactions.clear()

    result = world.boot({})

    assert result.summary["examined"] == 40
    assert result.summary["heartbeats_posted"] == 40
    # started, observations, begun, answers, completed
    assert len(world.ledger.transactions) == 5


def test_second_boot_leaves_finalized_loops_alone(world: World) -> None:
    world.register("L1", pid=101)
    world.register("L2", pid=102)
    world.cloud.statuses["L1"] = [StatusAnswer(410)]
    first = world.boot({101: True, 102: True})
    assert outcome_of(first, "L1") == (None, "gone")
    world.cloud.gets.clear()

    second = world.boot({101: True, 102: True})

    assert [run.loop.loop_id for run in second.runs] == ["L2"]
    assert "L1" not in world.cloud.gets
    assert world.ledger.loop("L1").finalize_reason == "gone"


def test_boot_is_recorded_started_and_completed_with_its_policy(world: World) -> None:
    world.register("L1", pid=101)

    result = world.boot({101: True}, policy="v1-legacy")

    recorded: Boot = world.ledger.aggregate(result.boot_id)
    assert recorded.policy == "v1-legacy"
    assert recorded.loop_ids == ["L1"]
    assert recorded.summary == result.summary
    assert [type(e).__name__ for e in world.ledger.events[result.boot_id]] == [
        "Started",
        "Completed",
    ]


def test_a_token_that_no_longer_opens_stops_the_boot_before_anything_is_recorded(
    world: World,
) -> None:
    world.register("L1", pid=101)
    world.sealer.shred(world.ledger.loop("L1").id)
    before = len(world.ledger.transactions)

    with pytest.raises(TokenUnavailableError, match="cannot unseal the token of loop 'L1'"):
        world.boot({101: True})

    assert len(world.ledger.transactions) == before
    assert world.cloud.gets == {}


def test_revived_answer_uses_new_expiry_in_report(world: World) -> None:
    world.register("L1", pid=101)
    world.cloud.statuses["L1"] = [StatusAnswer(401)]
    fresh = runner_token(jti="fresh", ttl_s=7200)
    world.cloud.heartbeats["L1"] = FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)

    result = world.boot({101: True})

    from recovery_ledger.infra.boot.report import boot_document

    entry = boot_document(result)["loops"][0]
    assert entry["token"]["jti"] == "fresh"
    assert fresh not in str(boot_document(result))
    assert entry["heartbeat"] == {"http_status": 200, "revived": True, "error": None}
    expires = datetime.fromisoformat(entry["token"]["expires_at"].replace("Z", "+00:00"))
    assert expires > datetime.now(UTC) + timedelta(hours=1)
