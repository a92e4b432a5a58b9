"""Policy v4-key-guarded (docs/contract.md section 4, version 2), its replay on ledgers written
before it, the ``pop_key_unusable`` finding, and the Boot.Started upcast. Expected values are
written from the contract's text."""

from __future__ import annotations

import itertools
from dataclasses import replace
from uuid import UUID, uuid4

import orjson
import pytest
from eventsourcing.persistence import Mapper, StoredEvent

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.policies import DEFAULT_POLICY, LoopFacts, get_policy
from recovery_ledger.infra.store.transcoder import OrjsonTranscoder
from recovery_ledger.projections.replay import replay_decision
from recovery_ledger.projections.rows import DecisionRow
from recovery_ledger.projections.zombies import findings_for

from .test_read_models import recorded_row

UNUSABLE = ["missing", "unreadable", "insecure_mode", "not_pem", "wrong_key_type"]
S401 = StatusAnswer(401)
STATUSES = [
    StatusAnswer(200, "active"),
    StatusAnswer(200, "timed_out"),
    StatusAnswer(200, "completed"),
    S401,
    StatusAnswer(404),
    StatusAnswer(410),
    StatusAnswer(503),
    StatusAnswer(None, error="timeout"),
]
HEARTBEATS = [None, HeartbeatAnswer(200, revived=True), HeartbeatAnswer(401)]


def facts(reason: str, *, alive: bool = True, status: StatusAnswer = S401, **kw: str) -> LoopFacts:
    return LoopFacts(
        provenance=kw.get("provenance", "desktop_managed"),  # type: ignore[arg-type]
        runner_alive=alive,
        status=status,
        pop_available=reason == "available",
        pop_reason=reason,
    )


def test_v4_is_the_default() -> None:
    assert DEFAULT_POLICY == "v4-key-guarded"


@pytest.mark.parametrize("reason", UNUSABLE)
def test_a_configured_but_unusable_key_never_kills_a_live_managed_loop(reason: str) -> None:
    decision = get_policy("v4-key-guarded")(facts(reason), None)
    assert decision.classification == "pop_unavailable"
    assert decision.post_heartbeat is False
    assert decision.outcome is not None
    assert decision.outcome.reattach_mode == "conservative"
    assert not decision.outcome.adopt_revived_token
    # v3 finalized that very loop: the false kill of issue 11
    v3 = get_policy("v3-pop-guarded")(facts(reason), None)
    assert v3.outcome is not None and v3.outcome.finalize_reason == "unauthorized"


def test_no_key_configured_at_all_acts_as_v3() -> None:
    decision = get_policy("v4-key-guarded")(facts("not_configured"), None)
    assert decision.classification == "terminal"
    assert decision.outcome is not None and decision.outcome.finalize_reason == "unauthorized"


@pytest.mark.parametrize("reason", UNUSABLE)
def test_the_key_guard_is_only_for_a_live_managed_loop_and_a_401(reason: str) -> None:
    v4 = get_policy("v4-key-guarded")
    dead = v4(facts(reason, alive=False), None)
    assert dead.outcome is not None and dead.outcome.finalize_reason == "dead_pid"
    user = v4(facts(reason, provenance="user_created"), None)
    assert user.outcome is not None and user.outcome.finalize_reason == "unauthorized"
    gone = v4(facts(reason, status=StatusAnswer(410)), None)
    assert gone.outcome is not None and gone.outcome.finalize_reason == "gone"


@pytest.mark.parametrize(
    ("reason", "alive", "status", "heartbeat", "provenance"),
    list(
        itertools.product(
            ["available", "not_configured", "user_created", *UNUSABLE],
            [True, False],
            STATUSES,
            HEARTBEATS,
            ["desktop_managed", "user_created"],
        )
    ),
)
def test_v4_decides_as_v3_everywhere_but_the_key_guard(
    reason: str,
    alive: bool,
    status: StatusAnswer,
    heartbeat: HeartbeatAnswer | None,
    provenance: str,
) -> None:
    f = facts(reason, alive=alive, status=status, provenance=provenance)
    v3, v4 = get_policy("v3-pop-guarded")(f, heartbeat), get_policy("v4-key-guarded")(f, heartbeat)
    guarded = alive and provenance == "desktop_managed" and status == S401 and reason in UNUSABLE
    if guarded:
        assert v4.classification == "pop_unavailable"
    else:
        assert (v4.classification, v4.post_heartbeat, v4.outcome) == (
            v3.classification,
            v3.post_heartbeat,
            v3.outcome,
        )


def test_older_policies_ignore_the_key_reason() -> None:
    for name in ("v1-legacy", "v2-pop-unguarded", "v3-pop-guarded"):
        blind = get_policy(name)(replace(facts("missing"), pop_reason=""), None)
        assert get_policy(name)(facts("missing"), None) == blind


# -- replay and findings -----------------------------------------------------------------------


def _v3_row_with_a_missing_key() -> DecisionRow:
    row = recorded_row("v3-pop-guarded", alive=True, status=S401, pop=False)
    return replace(row, pop_reason="missing")


def test_replay_shows_what_v4_would_have_changed_in_an_old_ledger() -> None:
    row = _v3_row_with_a_missing_key()
    assert replay_decision(row, "desktop_managed").matches  # re-derives under v3
    what_if = replay_decision(row, "desktop_managed", "v4-key-guarded")
    assert not what_if.matches
    assert what_if.recorded.outcome == "finalized:unauthorized"
    assert what_if.derived.outcome == "reattached:conservative"
    assert what_if.derived.classification == "pop_unavailable"


@pytest.mark.parametrize("reason", UNUSABLE)
def test_a_v4_decision_with_an_unusable_key_replays_identically(reason: str) -> None:
    row = replace(
        recorded_row("v4-key-guarded", alive=True, status=S401, pop=False), pop_reason=reason
    )
    # recorded_row ran the policy without the reason; record what v4 decides with it
    row = replace(row, classification="pop_unavailable", outcome="reattached",
                  reattach_mode="conservative", finalize_reason=None)  # fmt: skip
    assert replay_decision(row, "desktop_managed").matches


def test_pop_key_unusable_flags_a_live_managed_loop_rejected_under_an_unusable_key() -> None:
    row = _v3_row_with_a_missing_key()
    found = findings_for(row, provenance="desktop_managed", boot_over=True)
    [finding] = [f for f in found if f.kind == "pop_key_unusable"]
    assert "missing" in finding.detail
    assert [e.split(":")[0] for e in finding.evidence] == [
        "RunnerObserved",
        "CloudAnswered",
        "Classified",
    ]
    not_configured = replace(row, pop_reason="not_configured")
    assert not [
        f
        for f in findings_for(not_configured, provenance="desktop_managed", boot_over=True)
        if f.kind == "pop_key_unusable"
    ]


def test_a_decision_to_post_recorded_before_the_heartbeat_began_re_derives() -> None:
    """Issue 11 point 3: a boot killed between Classified and PopHeartbeatBegun."""
    row = recorded_row("v3-pop-guarded", alive=True, status=S401, heartbeat=None)
    cut = replace(row, heartbeat_begun=False, proof_jti=None, evidence=row.evidence[:3])
    assert cut.post_heartbeat is True and cut.outcome is None
    replayed = replay_decision(cut, "desktop_managed")
    assert replayed.matches, replayed.differences()
    assert not replayed.complete


# -- the Boot.Started upcast ---------------------------------------------------------------------


def test_a_boot_started_stored_before_version_2_reads_with_no_key_state() -> None:
    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    boot = Boot(
        boot_id=uuid4(),
        policy="v4-key-guarded",
        host_id="h",
        host_name="n",
        app_version="0",
        cloud_url="",
        loop_ids=[],
        pop_key={"configured": True, "usable": False, "reason": "missing", "thumbprint": None},
    )
    stored = mapper.to_stored_event(boot.collect_events()[0])
    state = orjson.loads(stored.state)
    assert state["class_version"] == 2
    assert mapper.to_domain_event(stored).pop_key["reason"] == "missing"  # type: ignore[attr-defined]
    del state["class_version"], state["pop_key"]  # what a version-1 boot stored
    old = StoredEvent(stored.originator_id, 1, stored.topic, orjson.dumps(state))
    event = mapper.to_domain_event(old)
    assert event.pop_key is None  # type: ignore[attr-defined]
    assert event.mutate(None).pop_key is None  # type: ignore[attr-defined]
