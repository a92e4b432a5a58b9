"""The Loop aggregate as a story: do a thing, check the state, try a forbidden thing,
check nothing changed."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from eventsourcing.application import project_aggregate

from recovery_ledger.domain.errors import (
    HeartbeatAlreadyPostedError,
    HeartbeatNotBegunError,
    LoopAlreadyFinalizedError,
    NoRevivalInBootError,
)
from recovery_ledger.domain.loop import (
    Loop,
    SealedToken,
    TokenSource,
    loop_aggregate_id,
)
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer
from recovery_ledger.infra.store.loop_projector import project_loop

BOOT = uuid.UUID(int=1)
LATER = uuid.UUID(int=2)


def token(jti: str = "j1", source: TokenSource = "registered") -> SealedToken:
    return SealedToken(jti, datetime(2030, 1, 1, tzinfo=UTC), "f" * 64, b"\x01sealed", "k", source)


def new_loop() -> Loop:
    loop = Loop(
        loop_id="L-1", provenance="desktop_managed", pid=42, pid_start_time=100.5, host_id="host"
    )
    loop.issue_token(token())
    return loop


def assert_refused(loop: Loop, error: type[Exception], command: Callable[[], object]) -> None:
    version, pending = loop.version, len(loop.pending_events)
    with pytest.raises(error):
        command()
    assert loop.version == version
    assert len(loop.pending_events) == pending


def test_a_loop_is_finalized_once_ever_and_its_token_is_cleared_with_it() -> None:
    loop = new_loop()
    loop.finalize("user stopped it", boot_id=None, cloud_last_word=None, by="host")
    assert loop.finalize_reason == "user stopped it"
    assert loop.token is None
    assert [type(e).__name__ for e in loop.pending_events][-2:] == ["Finalized", "TokenCleared"]
    assert_refused(
        loop,
        LoopAlreadyFinalizedError,
        lambda: loop.finalize("again", boot_id=BOOT, cloud_last_word=None, by="boot"),
    )


def test_no_boot_event_is_accepted_after_finalization() -> None:
    loop = new_loop()
    loop.finalize("done", boot_id=None, cloud_last_word=None, by="host")
    assert_refused(
        loop,
        LoopAlreadyFinalizedError,
        lambda: loop.observe_runner(LATER, LivenessObservation(True, "running")),
    )
    assert_refused(
        loop,
        LoopAlreadyFinalizedError,
        lambda: loop.observe_cloud(LATER, 1, StatusAnswer(200, "active")),
    )
    assert_refused(loop, LoopAlreadyFinalizedError, lambda: loop.reattach(LATER, "confirmed"))
    assert_refused(loop, LoopAlreadyFinalizedError, lambda: loop.begin_heartbeat(LATER, "p", "u"))
    assert_refused(loop, LoopAlreadyFinalizedError, lambda: loop.issue_token(token("j2")))


def test_one_heartbeat_per_loop_per_boot() -> None:
    loop = new_loop()
    loop.begin_heartbeat(BOOT, "proof-1", "https://c/v1/loops/L-1/heartbeat")
    assert_refused(
        loop,
        HeartbeatAlreadyPostedError,
        lambda: loop.begin_heartbeat(BOOT, "proof-2", "https://c"),
    )
    loop.record_heartbeat_answer(BOOT, HeartbeatAnswer(503))
    assert_refused(
        loop,
        HeartbeatAlreadyPostedError,
        lambda: loop.begin_heartbeat(BOOT, "proof-3", "https://c"),
    )
    loop.begin_heartbeat(LATER, "proof-4", "https://c")  # a later boot may try again


def test_a_heartbeat_answer_needs_a_heartbeat_begun_in_that_boot() -> None:
    loop = new_loop()
    assert_refused(
        loop,
        HeartbeatNotBegunError,
        lambda: loop.record_heartbeat_answer(BOOT, HeartbeatAnswer(200, True)),
    )
    loop.begin_heartbeat(BOOT, "p", "u")
    loop.record_heartbeat_answer(BOOT, HeartbeatAnswer(200, True))
    assert_refused(
        loop,
        HeartbeatNotBegunError,
        lambda: loop.record_heartbeat_answer(BOOT, HeartbeatAnswer(200, True)),
    )


def test_a_token_is_revived_only_after_a_revived_answer_in_the_same_boot() -> None:
    loop = new_loop()
    assert_refused(loop, NoRevivalInBootError, lambda: loop.revive_token(BOOT, token("j2")))
    loop.begin_heartbeat(BOOT, "p", "u")
    loop.record_heartbeat_answer(BOOT, HeartbeatAnswer(200, revived=False))
    assert_refused(loop, NoRevivalInBootError, lambda: loop.revive_token(BOOT, token("j2")))
    loop.begin_heartbeat(LATER, "p2", "u")
    loop.record_heartbeat_answer(LATER, HeartbeatAnswer(200, revived=True))
    loop.revive_token(LATER, token("j3"))
    assert loop.token is not None
    assert (loop.token.jti, loop.token.source) == ("j3", "revived")
    assert_refused(loop, NoRevivalInBootError, lambda: loop.revive_token(LATER, token("j4")))


def test_a_401_records_the_jwt_that_was_rejected() -> None:
    loop = new_loop()
    loop.observe_cloud(BOOT, 1, StatusAnswer(401))
    rejected = loop.pending_events[-1]
    assert type(rejected).__name__ == "JwtRejected"
    assert rejected.jti == "j1"  # type: ignore[attr-defined]


def test_the_fast_projector_rebuilds_what_the_librarys_default_rebuilds() -> None:
    loop = new_loop()
    for i in range(60):
        boot = uuid.UUID(int=100 + i)
        loop.observe_runner(boot, LivenessObservation(True, "running", 100.5))
        loop.observe_cloud(boot, 1, StatusAnswer(401))
        loop.classify(
            boot,
            "v3-pop-guarded",
            "pop_fallback",
            pop_available=True,
            pop_reason="available",
            post_heartbeat=True,
        )
        loop.begin_heartbeat(boot, f"p{i}", "u")
        loop.record_heartbeat_answer(boot, HeartbeatAnswer(200, True))
        loop.revive_token(boot, token(f"r{i}"))
        loop.reattach(boot, "revived")
    events = loop.collect_events()
    fast = project_loop(None, events)
    default = project_aggregate(None, events)
    assert fast is not None and default is not None
    for attribute in (
        "version",
        "token",
        "finalize_reason",
        "heartbeat_boots",
        "revived_boots",
        "pid",
        "pid_start_time",
        "loop_id",
        "provenance",
        "host_id",
    ):
        assert getattr(fast, attribute) == getattr(default, attribute), attribute
    assert fast.version == len(events)


def test_the_fast_projector_refuses_an_event_out_of_sequence() -> None:
    loop = new_loop()
    loop.reattach(BOOT, "confirmed")
    events = loop.collect_events()
    with pytest.raises(ValueError, match="does not follow"):
        project_loop(None, [events[0], events[2]])


def test_the_aggregate_id_is_derived_from_the_loop_id_alone() -> None:
    assert loop_aggregate_id("L-1") == new_loop().id == loop_aggregate_id("L-1")
    assert loop_aggregate_id("L-2") != loop_aggregate_id("L-1")
    # Golden value: if this changes, ledgers written before can no longer find their loops.
    assert str(loop_aggregate_id("L-1")) == "168d4dd4-cabe-506c-aca1-321bb876b56d"


def test_a_snapshot_gives_back_the_same_loop_in_transcodable_types() -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from recovery_ledger.domain.loop import Loop, SealedToken
    from recovery_ledger.domain.observations import HeartbeatAnswer

    loop = Loop(loop_id="L", provenance="desktop_managed", pid=7, pid_start_time=2.5, host_id="h")
    loop.issue_token(SealedToken("j1", datetime.now(UTC), "fp", b"\x00sealed", "k1", "registered"))
    answered, pending = uuid4(), uuid4()
    loop.begin_heartbeat(answered, "proof-1", "https://cloud/hb")
    loop.record_heartbeat_answer(answered, HeartbeatAnswer(200, revived=True))
    loop.begin_heartbeat(pending, "proof-2", "https://cloud/hb")
    snapshot = Loop.Snapshot.take(loop)
    state = snapshot.state
    assert isinstance(state["token"], dict)
    assert all(isinstance(k, str) for k, _ in state["heartbeat_boots"])
    assert state["revived_boots"] == [answered.hex]
    back = snapshot.mutate(None)
    assert back.version == loop.version and back.id == loop.id
    assert {k: v for k, v in vars(back).items() if k != "_pending_events"} == {
        k: v for k, v in vars(loop).items() if k != "_pending_events"
    }
    loop.finalize("dead_pid", boot_id=None, cloud_last_word=None, by="host")
    finalized = Loop.Snapshot.take(loop).mutate(None)
    assert finalized.token is None and finalized.is_finalized
