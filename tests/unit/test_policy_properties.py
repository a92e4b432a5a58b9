"""Properties of the policies and of the aggregate, over generated observations and commands."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from recovery_ledger.domain.errors import LoopRefusal
from recovery_ledger.domain.loop import Loop, SealedToken
from recovery_ledger.domain.observations import (
    CLOUD_STATUSES,
    ERROR_KINDS,
    HeartbeatAnswer,
    LivenessObservation,
    StatusAnswer,
)
from recovery_ledger.domain.policies import (
    LoopFacts,
    decide_v1_legacy,
    decide_v2_pop_unguarded,
    decide_v3_pop_guarded,
)

codes = st.sampled_from(
    [200, 201, 301, 302, 400, 401, 403, 404, 409, 410, 418, 429, 500, 502, 503, 504]
)
errors = st.sampled_from([None, *ERROR_KINDS])
statuses = st.builds(
    StatusAnswer,
    http_status=st.one_of(st.none(), codes),
    status=st.one_of(st.none(), st.sampled_from([*CLOUD_STATUSES, "paused"])),
    error=errors,
)
heartbeats = st.builds(
    HeartbeatAnswer,
    http_status=st.one_of(st.none(), codes),
    revived=st.one_of(st.none(), st.booleans()),
    error=errors,
)
facts = st.builds(
    LoopFacts,
    provenance=st.sampled_from(["desktop_managed", "user_created"]),
    runner_alive=st.booleans(),
    status=statuses,
    pop_available=st.booleans(),
)


def _is_transient(answer: StatusAnswer) -> bool:
    return (
        answer.error is not None
        or answer.http_status not in (200, 401, 404, 410)
        or (answer.http_status == 200 and answer.status is None)
    )


@given(facts, st.one_of(st.none(), heartbeats))
def test_v3_never_posts_for_a_dead_runner(f: LoopFacts, hb: HeartbeatAnswer | None) -> None:
    if not f.runner_alive:
        decision = decide_v3_pop_guarded(f, hb)
        assert decision.post_heartbeat is False
        assert decision.outcome is not None and decision.outcome.finalized


@given(facts, heartbeats)
def test_v3_never_finalizes_a_live_runner_on_a_transient_answer(
    f: LoopFacts, hb: HeartbeatAnswer
) -> None:
    if not f.runner_alive:
        return
    first = decide_v3_pop_guarded(f, None)
    if _is_transient(f.status):
        assert first.outcome is not None and first.outcome.reattach_mode == "conservative"
    if first.post_heartbeat:
        final = decide_v3_pop_guarded(f, hb)
        terminal = hb.error is None and hb.http_status in (401, 404, 410)
        assert final.outcome is not None
        if not terminal:
            assert not final.outcome.finalized


@given(facts, heartbeats)
def test_every_policy_completes_after_at_most_one_heartbeat(
    f: LoopFacts, hb: HeartbeatAnswer
) -> None:
    for decide in (decide_v1_legacy, decide_v2_pop_unguarded, decide_v3_pop_guarded):
        first = decide(f, None)
        assert (first.outcome is None) == first.post_heartbeat
        final = decide(f, hb) if first.post_heartbeat else first
        assert final.outcome is not None
        assert (final.outcome.reattach_mode is None) != (final.outcome.finalize_reason is None)
        assert final.classification == first.classification


@given(facts)
def test_v1_never_posts_and_v2_posts_for_every_managed_401_with_pop(f: LoopFacts) -> None:
    assert decide_v1_legacy(f, None).post_heartbeat is False
    v2_posts = (
        f.status.http_status == 401
        and f.status.error is None
        and f.provenance == "desktop_managed"
        and f.pop_available
    )
    assert decide_v2_pop_unguarded(f, None).post_heartbeat is v2_posts


def _token(jti: str) -> SealedToken:
    return SealedToken(jti, datetime(2030, 1, 1, tzinfo=UTC), "f" * 64, b"sealed", "k", "rotated")


commands = st.lists(
    st.tuples(
        st.sampled_from(
            ["observe", "cloud", "begin", "answer", "revive", "reattach", "finalize", "token"]
        ),
        st.integers(0, 2),
        st.booleans(),
    ),
    max_size=25,
)


@settings(max_examples=200)
@given(commands)
def test_a_loop_is_finalized_at_most_once_and_posts_at_most_once_per_boot(
    cmds: list[tuple[str, int, bool]],
) -> None:
    loop = Loop(loop_id="L", provenance="desktop_managed", pid=1, pid_start_time=1.0, host_id="h")
    boots = [uuid.UUID(int=i + 1) for i in range(3)]
    for name, b, flag in cmds:
        boot = boots[b]
        version, pending = loop.version, len(loop.pending_events)
        try:
            if name == "observe":
                loop.observe_runner(boot, LivenessObservation(flag, "running"))
            elif name == "cloud":
                loop.observe_cloud(boot, 1, StatusAnswer(401 if flag else 200, None))
            elif name == "begin":
                loop.begin_heartbeat(boot, uuid.uuid4().hex, "u")
            elif name == "answer":
                loop.record_heartbeat_answer(boot, HeartbeatAnswer(200, revived=flag))
            elif name == "revive":
                loop.revive_token(boot, _token(uuid.uuid4().hex))
            elif name == "reattach":
                loop.reattach(boot, "confirmed")
            elif name == "finalize":
                loop.finalize("x", boot_id=boot, cloud_last_word=None, by="boot")
            else:
                loop.issue_token(_token(uuid.uuid4().hex))
        except LoopRefusal:
            assert loop.version == version  # a refusal records nothing
            assert len(loop.pending_events) == pending
    names = [type(e).__name__ for e in loop.pending_events]
    assert names.count("Finalized") <= 1
    if "Finalized" in names:
        assert names.index("Finalized") >= len(names) - 2  # only TokenCleared may follow
    for boot in boots:
        begun = [
            e
            for e in loop.pending_events
            if isinstance(e, Loop.PopHeartbeatBegun) and e.boot_id == boot
        ]
        assert len(begun) <= 1
