"""docs/contract.md section 4, row by row, for each of the three policies. Expected values are
written from the contract's text, not computed by the code under test."""

from __future__ import annotations

import pytest

from recovery_ledger.domain.errors import UnknownPolicyError
from recovery_ledger.domain.observations import HeartbeatAnswer, Provenance, StatusAnswer
from recovery_ledger.domain.policies import (
    POLICY_NAMES,
    Decision,
    LoopFacts,
    get_policy,
    may_retry_status,
)

V1, V2, V3 = "v1-legacy", "v2-pop-unguarded", "v3-pop-guarded"

ACTIVE = StatusAnswer(200, "active")
TIMED_OUT = StatusAnswer(200, "timed_out")
COMPLETED = StatusAnswer(200, "completed")
CANCELLED = StatusAnswer(200, "cancelled")
FAILED = StatusAnswer(200, "failed")
UNRECOGNIZED = StatusAnswer(200, error="unrecognized_status")
MALFORMED = StatusAnswer(200, error="malformed")
S401, S404, S410 = StatusAnswer(401), StatusAnswer(404), StatusAnswer(410)
S429, S500, S503, S418 = StatusAnswer(429), StatusAnswer(500), StatusAnswer(503), StatusAnswer(418)
TIMEOUT = StatusAnswer(None, error="timeout")
NETWORK = StatusAnswer(None, error="network")

REVIVED = HeartbeatAnswer(200, revived=True)
REVIVED_MALFORMED = HeartbeatAnswer(200, error="malformed")
NOT_REVIVED = HeartbeatAnswer(200, revived=False)
H401, H404, H410 = HeartbeatAnswer(401), HeartbeatAnswer(404), HeartbeatAnswer(410)
H500, H503 = HeartbeatAnswer(500), HeartbeatAnswer(503)
H_TIMEOUT, H_NETWORK = (
    HeartbeatAnswer(None, error="timeout"),
    HeartbeatAnswer(None, error="network"),
)

TRANSIENT = [S429, S500, S503, S418, TIMEOUT, NETWORK, UNRECOGNIZED, MALFORMED]


def decide(
    policy: str,
    status: StatusAnswer,
    *,
    alive: bool = True,
    provenance: Provenance = "desktop_managed",
    pop: bool = True,
    heartbeat: HeartbeatAnswer | None = None,
) -> Decision:
    facts = LoopFacts(
        provenance=provenance,
        runner_alive=alive,
        status=status,
        pop_available=pop,
    )
    return get_policy(policy)(facts, heartbeat)


def outcome(decision: Decision) -> tuple[str, str] | None:
    if decision.outcome is None:
        return None
    o = decision.outcome
    if o.reattach_mode is not None:
        return ("reattached", o.reattach_mode)
    assert o.finalize_reason is not None
    return ("finalized", o.finalize_reason)


# -- live runner, no PoP question: the same under every policy ------------------------------------


@pytest.mark.parametrize("policy", POLICY_NAMES)
@pytest.mark.parametrize(
    ("status", "classification", "expected"),
    [
        (ACTIVE, "active", ("reattached", "confirmed")),
        (TIMED_OUT, "terminal", ("finalized", "timed_out")),
        (COMPLETED, "terminal", ("finalized", "cloud_terminal")),
        (CANCELLED, "terminal", ("finalized", "cloud_terminal")),
        (FAILED, "terminal", ("finalized", "cloud_terminal")),
        (S404, "terminal", ("finalized", "not_found")),
        (S410, "terminal", ("finalized", "gone")),
        *[(t, "transient", ("reattached", "conservative")) for t in TRANSIENT],
    ],
)
@pytest.mark.parametrize("provenance", ["desktop_managed", "user_created"])
def test_live_runner_rows_without_a_401(
    policy: str,
    status: StatusAnswer,
    classification: str,
    expected: tuple[str, str],
    provenance: Provenance,
) -> None:
    decision = decide(policy, status, provenance=provenance)
    assert decision.classification == classification
    assert decision.post_heartbeat is False
    assert outcome(decision) == expected


# -- live runner, 401 ---------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICY_NAMES)
@pytest.mark.parametrize(
    ("provenance", "pop"),
    [("user_created", True), ("user_created", False), ("desktop_managed", False)],
)
def test_live_401_without_pop_fallback_is_finalized_unauthorized(
    policy: str, provenance: Provenance, pop: bool
) -> None:
    decision = decide(policy, S401, provenance=provenance, pop=pop)
    assert decision.classification == "terminal"
    assert decision.post_heartbeat is False
    assert outcome(decision) == ("finalized", "unauthorized")


def test_v1_finalizes_a_live_managed_loop_on_401_even_with_pop() -> None:
    decision = decide(V1, S401)
    assert (decision.classification, decision.post_heartbeat) == ("terminal", False)
    assert outcome(decision) == ("finalized", "unauthorized")


@pytest.mark.parametrize("policy", [V2, V3])
def test_live_managed_401_with_pop_asks_for_one_heartbeat(policy: str) -> None:
    decision = decide(policy, S401)
    assert decision.classification == "pop_fallback"
    assert decision.post_heartbeat is True
    assert decision.outcome is None


@pytest.mark.parametrize(
    ("heartbeat", "v3", "v2"),
    [
        (REVIVED, ("reattached", "revived"), ("reattached", "revived")),
        (H401, ("finalized", "unauthorized"), ("finalized", "unauthorized")),
        (H404, ("finalized", "not_found"), ("finalized", "not_found")),
        (H410, ("finalized", "gone"), ("finalized", "gone")),
        (NOT_REVIVED, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (REVIVED_MALFORMED, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (H500, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (H503, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (H_TIMEOUT, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (H_NETWORK, ("reattached", "conservative"), ("finalized", "unauthorized")),
        (HeartbeatAnswer(429), ("reattached", "conservative"), ("finalized", "unauthorized")),
    ],
)
def test_the_heartbeat_answer_table_for_a_live_runner(
    heartbeat: HeartbeatAnswer, v3: tuple[str, str], v2: tuple[str, str]
) -> None:
    for policy, expected in ((V3, v3), (V2, v2)):
        decision = decide(policy, S401, heartbeat=heartbeat)
        assert outcome(decision) == expected, policy
        assert decision.outcome is not None
        assert decision.outcome.adopt_revived_token is (heartbeat is REVIVED)


# -- dead runner ----------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICY_NAMES)
@pytest.mark.parametrize("provenance", ["desktop_managed", "user_created"])
@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (ACTIVE, "dead_pid"),
        (TIMED_OUT, "timed_out"),
        (COMPLETED, "dead_pid"),
        (S404, "dead_pid"),
        (S410, "dead_pid"),
        *[(t, "dead_pid") for t in TRANSIENT],
    ],
)
def test_a_dead_runner_is_finalized_and_never_gets_a_heartbeat(
    policy: str, provenance: Provenance, status: StatusAnswer, reason: str
) -> None:
    decision = decide(policy, status, alive=False, provenance=provenance)
    assert decision.post_heartbeat is False
    assert outcome(decision) == ("finalized", reason)


@pytest.mark.parametrize("policy", [V1, V3])
@pytest.mark.parametrize("pop", [True, False])
def test_v1_and_v3_never_post_for_a_dead_runner_with_401(policy: str, pop: bool) -> None:
    decision = decide(policy, S401, alive=False, pop=pop)
    assert decision.classification == "terminal"
    assert decision.post_heartbeat is False
    assert outcome(decision) == ("finalized", "dead_pid")


def test_v2_posts_for_a_dead_runner_and_finalizes_it_even_when_revived() -> None:
    asked = decide(V2, S401, alive=False)
    assert (asked.classification, asked.post_heartbeat, asked.outcome) == (
        "pop_fallback",
        True,
        None,
    )
    revived = decide(V2, S401, alive=False, heartbeat=REVIVED)
    assert outcome(revived) == ("finalized", "dead_pid")
    assert revived.outcome is not None
    assert revived.outcome.adopt_revived_token is True  # the resurrect-then-finalize race
    refused = decide(V2, S401, alive=False, heartbeat=H401)
    assert outcome(refused) == ("finalized", "dead_pid")


# -- retries and names --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answers", "retry"),
    [
        ([TIMEOUT], True),
        ([NETWORK], True),
        ([S503], True),
        ([S429], True),
        ([MALFORMED], True),
        ([UNRECOGNIZED], True),
        ([ACTIVE], False),
        ([S401], False),
        ([S404], False),
        ([S410], False),
        ([COMPLETED], False),
        ([TIMEOUT, TIMEOUT], False),
        ([S503, ACTIVE], False),
    ],
)
def test_a_status_get_is_retried_once_and_only_after_a_transient_answer(
    answers: list[StatusAnswer], retry: bool
) -> None:
    assert may_retry_status(answers) is retry


def test_every_decision_names_the_policy_that_made_it() -> None:
    for policy in POLICY_NAMES:
        assert decide(policy, ACTIVE).policy == policy


def test_an_unknown_policy_is_refused_by_name() -> None:
    with pytest.raises(UnknownPolicyError, match="v4"):
        get_policy("v4-imaginary")
