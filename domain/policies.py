"""The boot decision table (docs/contract.md section 4), one pure function per policy.

A policy maps what a boot observed for one loop to a ``Decision``. It is called
twice in a boot: once without a heartbeat answer (it may ask to post one), and,
when it asked, once more with the recorded answer. Replay calls it the same way
with the recorded observations, so every decision can be re-derived.

Guards that only the current policy keeps (no heartbeat for a dead runner) live
here, not in the aggregate: the ledger must be able to record what older
policies did, so that the zombie report can find it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from recovery_ledger.domain.errors import UnknownPolicyError
from recovery_ledger.domain.observations import HeartbeatAnswer, Provenance, StatusAnswer

Classification = Literal["active", "terminal", "pop_fallback", "transient", "pop_unavailable"]
ReattachMode = Literal["confirmed", "conservative", "revived"]
FinalizeReason = Literal[
    "timed_out", "cloud_terminal", "unauthorized", "not_found", "gone", "dead_pid"
]

V1_LEGACY: Final = "v1-legacy"
V2_POP_UNGUARDED: Final = "v2-pop-unguarded"
V3_POP_GUARDED: Final = "v3-pop-guarded"
V4_KEY_GUARDED: Final = "v4-key-guarded"
DEFAULT_POLICY: Final = V4_KEY_GUARDED

# docs/contract.md section 1: a managed key that is configured but cannot be used. The last
# word is how ledgers written before contract version 2 recorded ``insecure_mode``.
KEY_UNUSABLE_REASONS: Final = frozenset(
    {"missing", "unreadable", "insecure_mode", "not_pem", "wrong_key_type", "world_readable"}
)

_VERDICT_CODES: Final = frozenset({200, 401, 404, 410})


@dataclass(frozen=True)
class LoopFacts:
    """Everything a policy may look at before a heartbeat: all recorded."""

    provenance: Provenance
    runner_alive: bool
    status: StatusAnswer
    pop_available: bool
    # Why PoP is (not) available: the managed key's state (contract section 1), or
    # ``user_created``. Only v4 reads it; v1 to v3 decide as they always did.
    pop_reason: str = ""


@dataclass(frozen=True)
class Outcome:
    """What happens to the loop. Exactly one of mode and reason is set."""

    reattach_mode: ReattachMode | None = None
    finalize_reason: FinalizeReason | None = None
    adopt_revived_token: bool = False

    @property
    def finalized(self) -> bool:
        return self.finalize_reason is not None


@dataclass(frozen=True)
class Decision:
    """A policy's verdict. ``outcome`` is None only while a heartbeat it asked
    for has not been answered yet."""

    policy: str
    classification: Classification
    post_heartbeat: bool
    outcome: Outcome | None


def is_transient_status(answer: StatusAnswer) -> bool:
    """No verdict: anything but a well-formed 200 with a known status, 401, 404, 410."""
    if answer.error is not None or answer.http_status not in _VERDICT_CODES:
        return True
    return answer.http_status == 200 and answer.status is None


def may_retry_status(answers: list[StatusAnswer]) -> bool:
    """At most two GETs per loop per boot, the second only after a transient one."""
    return len(answers) == 1 and is_transient_status(answers[0])


def heartbeat_revived(answer: HeartbeatAnswer) -> bool:
    return answer.http_status == 200 and answer.revived is True and answer.error is None


_HEARTBEAT_TERMINAL: Final[dict[int, FinalizeReason]] = {
    401: "unauthorized",
    404: "not_found",
    410: "gone",
}


def _heartbeat_terminal_reason(answer: HeartbeatAnswer) -> FinalizeReason | None:
    if answer.error is not None or answer.http_status is None:
        return None
    return _HEARTBEAT_TERMINAL.get(answer.http_status)


_STATUS_TERMINAL: Final[dict[int, FinalizeReason]] = {404: "not_found", 410: "gone"}


def _terminal_reason(status: StatusAnswer) -> FinalizeReason:
    if status.http_status == 200:
        return "timed_out" if status.status == "timed_out" else "cloud_terminal"
    return _STATUS_TERMINAL.get(status.http_status or 0, "unauthorized")


def _dead_reason(status: StatusAnswer) -> FinalizeReason:
    said_timed_out = status.http_status == 200 and status.status == "timed_out"
    return "timed_out" if said_timed_out else "dead_pid"


def _classify(facts: LoopFacts, *, pop_fallback_on_401: bool) -> Classification:
    status = facts.status
    if is_transient_status(status):
        return "transient"
    if status.http_status == 200:
        return "active" if status.status == "active" else "terminal"
    if status.http_status == 401 and pop_fallback_on_401:
        return "pop_fallback"
    return "terminal"


def _pop_eligible(facts: LoopFacts) -> bool:
    return facts.provenance == "desktop_managed" and facts.pop_available


def _without_heartbeat(facts: LoopFacts, classification: Classification) -> Outcome:
    """Rows of the table that need no heartbeat; shared by every policy."""
    if not facts.runner_alive:
        return Outcome(finalize_reason=_dead_reason(facts.status))
    if classification == "active":
        return Outcome(reattach_mode="confirmed")
    if classification == "transient":
        return Outcome(reattach_mode="conservative")
    return Outcome(finalize_reason=_terminal_reason(facts.status))


def decide_v1_legacy(facts: LoopFacts, heartbeat: HeartbeatAnswer | None) -> Decision:
    """A 401 is always terminal at boot: no PoP fallback at all."""
    classification = _classify(facts, pop_fallback_on_401=False)
    return Decision(V1_LEGACY, classification, False, _without_heartbeat(facts, classification))


def decide_v2_pop_unguarded(facts: LoopFacts, heartbeat: HeartbeatAnswer | None) -> Decision:
    """The first cut of the fallback, kept to replay the zombie incidents.

    It posts for a dead runner too, finalizes that runner ``dead_pid`` even when
    the cloud has just revived it (after adopting the fresh token: the
    resurrect-then-finalize race), and finalizes ``unauthorized`` when the
    heartbeat answer is transient or inconclusive.
    """
    classification = _classify(facts, pop_fallback_on_401=_pop_eligible(facts))
    if classification != "pop_fallback":
        return Decision(
            V2_POP_UNGUARDED, classification, False, _without_heartbeat(facts, classification)
        )
    if heartbeat is None:
        return Decision(V2_POP_UNGUARDED, classification, True, None)
    revived = heartbeat_revived(heartbeat)
    if not facts.runner_alive:
        outcome = Outcome(finalize_reason="dead_pid", adopt_revived_token=revived)
    elif revived:
        outcome = Outcome(reattach_mode="revived", adopt_revived_token=True)
    else:
        outcome = Outcome(finalize_reason=_heartbeat_terminal_reason(heartbeat) or "unauthorized")
    return Decision(V2_POP_UNGUARDED, classification, True, outcome)


def decide_v3_pop_guarded(facts: LoopFacts, heartbeat: HeartbeatAnswer | None) -> Decision:
    """The default. A heartbeat only for a live, desktop_managed loop with PoP
    available whose token was rejected; a transient answer never kills a live loop."""
    eligible = facts.runner_alive and _pop_eligible(facts)
    classification = _classify(facts, pop_fallback_on_401=eligible)
    if classification != "pop_fallback":
        return Decision(
            V3_POP_GUARDED, classification, False, _without_heartbeat(facts, classification)
        )
    if heartbeat is None:
        return Decision(V3_POP_GUARDED, classification, True, None)
    if heartbeat_revived(heartbeat):
        outcome = Outcome(reattach_mode="revived", adopt_revived_token=True)
    else:
        reason = _heartbeat_terminal_reason(heartbeat)
        outcome = (
            Outcome(finalize_reason=reason)
            if reason is not None
            else Outcome(reattach_mode="conservative")
        )
    return Decision(V3_POP_GUARDED, classification, True, outcome)


def decide_v4_key_guarded(facts: LoopFacts, heartbeat: HeartbeatAnswer | None) -> Decision:
    """v3, except that a local fault never kills a live loop: a 401 for a live
    desktop_managed loop whose configured managed key is unusable is ``pop_unavailable``,
    reattached conservative with its stale token kept. With no key configured at all
    (``not_configured``) it decides as v3."""
    v3 = decide_v3_pop_guarded(facts, heartbeat)
    key_fault = (
        facts.runner_alive
        and facts.provenance == "desktop_managed"
        and not facts.pop_available
        and facts.pop_reason in KEY_UNUSABLE_REASONS
        and not is_transient_status(facts.status)
        and facts.status.http_status == 401
    )
    if key_fault:
        return Decision(
            V4_KEY_GUARDED, "pop_unavailable", False, Outcome(reattach_mode="conservative")
        )
    return Decision(V4_KEY_GUARDED, v3.classification, v3.post_heartbeat, v3.outcome)


Policy = Callable[[LoopFacts, HeartbeatAnswer | None], Decision]

POLICIES: Final[dict[str, Policy]] = {
    V1_LEGACY: decide_v1_legacy,
    V2_POP_UNGUARDED: decide_v2_pop_unguarded,
    V3_POP_GUARDED: decide_v3_pop_guarded,
    V4_KEY_GUARDED: decide_v4_key_guarded,
}
POLICY_NAMES: Final = tuple(POLICIES)


def get_policy(name: str) -> Policy:
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(POLICY_NAMES)
        raise UnknownPolicyError(f"unknown policy {name!r} (known: {known})") from None
