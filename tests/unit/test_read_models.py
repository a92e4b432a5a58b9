"""The read side's pure parts: replay re-derivation and what-if, zombie findings, the audit
report and its CSV. Decision rows are made the way a boot records them: by running a policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.policies import POLICIES, LoopFacts, get_policy
from recovery_ledger.projections.audit import CSV_COLUMNS, AuditRange, audit_report, csv_rows
from recovery_ledger.projections.replay import replay_decision
from recovery_ledger.projections.rows import BootRow, DecisionRow
from recovery_ledger.projections.zombies import FINDING_KINDS, findings_for

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
UNAUTHORIZED = StatusAnswer(401)
ACTIVE = StatusAnswer(200, "active")
REVIVED = HeartbeatAnswer(200, revived=True, token_jti="fresh", token_expires_at="x")


def recorded_row(
    policy: str,
    *,
    alive: bool,
    status: StatusAnswer,
    pop: bool = True,
    provenance: str = "desktop_managed",
    heartbeat: HeartbeatAnswer | None = None,
    boot_id: str = "boot-1",
    loop_id: str = "loop-1",
) -> DecisionRow:
    """The decision row a boot under ``policy`` records for these observations."""
    decide = get_policy(policy)
    facts = LoopFacts(provenance, alive, status, pop)  # type: ignore[arg-type]
    decision = decide(facts, None)
    row = DecisionRow(
        boot_id=boot_id,
        loop_id=loop_id,
        aggregate_id="agg-" + loop_id,
        observed_at=T0,
        alive=alive,
        liveness_reason="start time matches" if alive else "no such process",
        status_attempts=1,
        status_http=status.http_status,
        status_word=status.status,
        status_error=status.error,
        policy=policy,
        classification=decision.classification,
        pop_available=pop,
        post_heartbeat=decision.post_heartbeat,
        evidence=("RunnerObserved:a/2@10", "CloudAnswered:a/3@11", "Classified:a/4@12"),
    )
    if decision.post_heartbeat:
        row = replace(
            row,
            heartbeat_begun=True,
            proof_jti="proof-1",
            evidence=(*row.evidence, "PopHeartbeatBegun:a/5@13"),
        )
        if heartbeat is None:
            return row  # the boot died with the heartbeat in flight
        decision = decide(facts, heartbeat)
        row = replace(
            row,
            heartbeat_answered=True,
            heartbeat_http=heartbeat.http_status,
            heartbeat_revived=heartbeat.revived,
            heartbeat_error=heartbeat.error,
            evidence=(*row.evidence, "PopHeartbeatPosted:a/6@14"),
        )
    outcome = decision.outcome
    assert outcome is not None
    if outcome.adopt_revived_token:  # as the boot service records it
        row = replace(row, token_revived=True, evidence=(*row.evidence, "TokenRevived:a/7@15"))
    if outcome.reattach_mode:
        return replace(
            row,
            outcome="reattached",
            reattach_mode=outcome.reattach_mode,
            decided_at=T0,
            evidence=(*row.evidence, "Reattached:a/8@16"),
        )
    last_word = None
    if row.heartbeat_answered:
        last_word = "heartbeat:revived" if heartbeat and heartbeat.revived else "heartbeat:other"
    elif status.status:
        last_word = f"status:{status.status}"
    return replace(
        row,
        outcome="finalized",
        finalize_reason=outcome.finalize_reason,
        cloud_last_word=last_word,
        decided_at=T0,
        evidence=(*row.evidence, "Finalized:a/8@16"),
    )


# -- replay ------------------------------------------------------------------------------------


facts_strategy = st.fixed_dictionaries(
    {
        "alive": st.booleans(),
        "status": st.sampled_from(
            [
                ACTIVE,
                StatusAnswer(200, "timed_out"),
                StatusAnswer(200, "completed"),
                UNAUTHORIZED,
                StatusAnswer(404),
                StatusAnswer(410),
                StatusAnswer(503),
                StatusAnswer(None, error="timeout"),
                StatusAnswer(200, error="malformed"),
            ]
        ),
        "pop": st.booleans(),
        "provenance": st.sampled_from(["desktop_managed", "user_created"]),
        "heartbeat": st.sampled_from(
            [REVIVED, HeartbeatAnswer(200, revived=False), HeartbeatAnswer(401),
             HeartbeatAnswer(503), HeartbeatAnswer(None, error="network")]
        ),
    }
)  # fmt: skip


@given(policy=st.sampled_from(sorted(POLICIES)), facts=facts_strategy)
def test_every_faithfully_recorded_decision_replays_identically(
    policy: str, facts: dict[str, Any]
) -> None:
    row = recorded_row(policy, **facts)
    replayed = replay_decision(row, facts["provenance"])
    assert replayed.policy == policy
    assert replayed.matches, replayed.differences()
    assert replayed.complete


def test_a_recorded_decision_the_policy_would_not_make_is_reported() -> None:
    honest = recorded_row("v3-pop-guarded", alive=True, status=ACTIVE)
    forged = replace(honest, outcome="finalized", reattach_mode=None, finalize_reason="dead_pid")
    replayed = replay_decision(forged, "desktop_managed")
    assert not replayed.matches
    [difference] = replayed.differences()
    assert difference.startswith("outcome: recorded 'finalized:dead_pid'")
    assert "'reattached:confirmed'" in difference


def test_what_if_v1_legacy_kills_the_live_loop_v3_revived() -> None:
    row = recorded_row("v3-pop-guarded", alive=True, status=UNAUTHORIZED, heartbeat=REVIVED)
    assert replay_decision(row, "desktop_managed").matches
    what_if = replay_decision(row, "desktop_managed", "v1-legacy")
    assert not what_if.matches
    assert what_if.recorded.outcome == "reattached:revived"
    assert what_if.derived.outcome == "finalized:unauthorized"
    assert what_if.derived.posts_heartbeat is False


def test_what_if_v2_posts_for_the_dead_runner_and_the_answer_is_unknown() -> None:
    row = recorded_row("v3-pop-guarded", alive=False, status=UNAUTHORIZED)
    assert row.outcome == "finalized" and not row.heartbeat_begun
    what_if = replay_decision(row, "desktop_managed", "v2-pop-unguarded")
    assert what_if.derived.posts_heartbeat is True
    assert what_if.derived.outcome is None
    assert what_if.derived.describe() == "would post a heartbeat; the answer is unknown"
    assert not what_if.matches


def test_an_interrupted_decision_compares_only_what_was_recorded() -> None:
    row = recorded_row("v3-pop-guarded", alive=True, status=UNAUTHORIZED, heartbeat=None)
    assert row.heartbeat_begun and row.outcome is None
    replayed = replay_decision(row, "desktop_managed")
    assert not replayed.complete
    assert replayed.matches, replayed.differences()
    lying = replace(row, classification="terminal")
    assert not replay_decision(lying, "desktop_managed").matches


# -- zombies ------------------------------------------------------------------------------------


def kinds(
    row: DecisionRow, provenance: str = "desktop_managed", boot_over: bool = True
) -> set[str]:
    return {f.kind for f in findings_for(row, provenance=provenance, boot_over=boot_over)}


def test_v3_decisions_never_make_findings() -> None:
    for alive in (True, False):
        for status in (ACTIVE, UNAUTHORIZED, StatusAnswer(503), StatusAnswer(404)):
            for heartbeat in (REVIVED, HeartbeatAnswer(401), HeartbeatAnswer(503)):
                row = recorded_row(
                    "v3-pop-guarded", alive=alive, status=status, heartbeat=heartbeat
                )
                assert kinds(row) == set() or kinds(row) == {"server_zombie"}, row
                # A dead runner the cloud still calls active is finalized, and flagged for
                # the cloud to clean up; that is the only finding v3 may leave.
                if kinds(row):
                    assert not alive and status == ACTIVE


def test_server_zombie_names_the_cloud_answer_and_the_finalization() -> None:
    row = recorded_row("v3-pop-guarded", alive=False, status=ACTIVE)
    [finding] = findings_for(row, provenance="desktop_managed", boot_over=True)
    assert finding.kind == "server_zombie"
    assert "status:active" in finding.detail
    assert [e.split(":")[0] for e in finding.evidence] == ["CloudAnswered", "Finalized"]


def test_v2_dead_runner_with_a_revived_heartbeat_is_two_findings() -> None:
    row = recorded_row("v2-pop-unguarded", alive=False, status=UNAUTHORIZED, heartbeat=REVIVED)
    assert kinds(row) == {"heartbeat_for_dead_pid", "revived_then_finalized", "server_zombie"}
    evidence = {
        f.kind: [e.split(":")[0] for e in f.evidence]
        for f in findings_for(row, provenance="desktop_managed", boot_over=True)
    }
    assert evidence["heartbeat_for_dead_pid"] == ["RunnerObserved", "PopHeartbeatBegun"]
    assert evidence["revived_then_finalized"] == ["TokenRevived", "Finalized"]


def test_v1_finalizing_a_live_managed_loop_with_pop_is_a_false_kill() -> None:
    row = recorded_row("v1-legacy", alive=True, status=UNAUTHORIZED)
    assert kinds(row) == {"false_kill"}
    assert kinds(recorded_row("v1-legacy", alive=True, status=UNAUTHORIZED, pop=False)) == set()
    user = recorded_row("v1-legacy", alive=True, status=UNAUTHORIZED, provenance="user_created")
    assert kinds(user, provenance="user_created") == set()


def test_an_unanswered_heartbeat_is_a_finding_once_its_boot_is_over() -> None:
    row = recorded_row("v3-pop-guarded", alive=True, status=UNAUTHORIZED, heartbeat=None)
    assert kinds(row, boot_over=True) == {"interrupted_heartbeat"}
    assert kinds(row, boot_over=False) == set()  # that boot may still be waiting for it


def test_every_finding_kind_of_the_contract_is_known() -> None:
    assert set(FINDING_KINDS) == {
        "server_zombie",
        "revived_then_finalized",
        "heartbeat_for_dead_pid",
        "false_kill",
        "interrupted_heartbeat",
        "pop_key_unusable",
    }


# -- audit ------------------------------------------------------------------------------------


def boot(boot_id: str, host: str, started: datetime, *, completed: bool = True) -> BootRow:
    return BootRow(
        boot_id=boot_id,
        policy="v3-pop-guarded",
        host_id=host,
        host_name=host,
        app_version="0",
        cloud_url="http://127.0.0.1:1",
        started_at=started,
        loops_planned=1,
        completed_at=started + timedelta(seconds=1) if completed else None,
    )


@pytest.fixture
def fleet() -> tuple[list[BootRow], list[DecisionRow]]:
    boots = [
        boot("b1", "host-a", T0),
        boot("b2", "host-a", T0 + timedelta(days=1), completed=False),
        boot("b3", "host-b", T0 + timedelta(days=2)),
    ]
    decisions = [
        recorded_row("v3-pop-guarded", alive=True, status=UNAUTHORIZED, heartbeat=REVIVED,
                     boot_id="b1", loop_id="l1"),
        recorded_row("v3-pop-guarded", alive=False, status=ACTIVE, boot_id="b1", loop_id="l2"),
        recorded_row("v3-pop-guarded", alive=True, status=UNAUTHORIZED, heartbeat=None,
                     boot_id="b2", loop_id="l1"),
        recorded_row("v3-pop-guarded", alive=True, status=StatusAnswer(503), boot_id="b3",
                     loop_id="l3"),
    ]  # fmt: skip
    return boots, decisions


def _findings(decisions: list[DecisionRow]) -> list[Any]:
    return [
        f for d in decisions for f in findings_for(d, provenance="desktop_managed", boot_over=True)
    ]


def test_audit_totals_and_per_host_sections(fleet: tuple[list[BootRow], list[DecisionRow]]) -> None:
    boots, decisions = fleet
    report = audit_report(AuditRange(None, None, None), boots, decisions, _findings(decisions))
    totals = report["totals"]
    assert totals["boots"] == 3 and totals["interrupted_boots"] == 1
    assert totals["loops_examined"] == 4
    assert totals["outcomes"] == {
        "finalized:dead_pid": 1,
        "reattached:conservative": 1,
        "reattached:revived": 1,
        "undecided": 1,
    }
    assert totals["heartbeats"] == {"revived": 1, "unanswered": 1}
    assert totals["revivals"] == 1
    assert totals["findings"] == {"interrupted_heartbeat": 1, "server_zombie": 1}
    assert sorted(report["hosts"]) == ["host-a", "host-b"]
    assert report["hosts"]["host-b"]["loops_examined"] == 1
    assert report["hosts"]["host-a"]["boots"] == 2


def test_audit_window_is_half_open_and_filters_by_host(
    fleet: tuple[list[BootRow], list[DecisionRow]],
) -> None:
    boots, decisions = fleet
    one_day = AuditRange(T0 + timedelta(days=1), T0 + timedelta(days=2), None)
    report = audit_report(one_day, boots, decisions, _findings(decisions))
    assert report["totals"]["boots"] == 1 and list(report["hosts"]) == ["host-a"]
    only_b = audit_report(AuditRange(None, None, "host-b"), boots, decisions, [])
    assert only_b["totals"]["loops_examined"] == 1 and list(only_b["hosts"]) == ["host-b"]


def test_csv_has_one_row_per_decision_with_the_documented_columns(
    fleet: tuple[list[BootRow], list[DecisionRow]],
) -> None:
    boots, decisions = fleet
    rows = list(csv_rows(AuditRange(None, None, None), boots, iter(decisions)))
    assert len(rows) == len(decisions)
    assert all(tuple(row) == CSV_COLUMNS for row in rows)
    revived = next(r for r in rows if r["token_revived"])
    assert (revived["loop_id"], revived["heartbeat_http"], revived["reattach_mode"]) == (
        "l1",
        200,
        "revived",
    )
    assert rows[0]["boot_started_at"] == T0 and rows[0]["host_id"] == "host-a"
