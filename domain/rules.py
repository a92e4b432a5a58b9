"""The rule that fired, in words: beside the decision table (``domain.policies``), so that
``show loop``, ``replay`` and the HTML report say *because* in one voice.

Pure: the same recorded facts and decision always read the same.
"""

from __future__ import annotations

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.domain.policies import (
    V1_LEGACY,
    V2_POP_UNGUARDED,
    Decision,
    LoopFacts,
    heartbeat_revived,
)

_STATUS_WORDS = {404: "the cloud has no such loop (404)", 410: "the cloud says gone (410)"}


def cloud_said(status: StatusAnswer) -> str:
    """The cloud's answer as one word: its status, an HTTP code, or the error kind."""
    if status.error is not None:
        return status.error
    if status.http_status == 200 and status.status is not None:
        return status.status
    return str(status.http_status) if status.http_status is not None else "nothing"


def heartbeat_said(answer: HeartbeatAnswer | None) -> str:
    """The heartbeat's answer as one word (``unanswered`` when none was recorded)."""
    if answer is None:
        return "unanswered"
    if answer.error is not None:
        return answer.error
    if answer.http_status == 200:
        return "revived" if answer.revived else "not revived"
    return str(answer.http_status)


def rule_in_words(
    facts: LoopFacts,
    decision: Decision,
    heartbeat: HeartbeatAnswer | None,
    pop_reason: str | None = None,
) -> str:
    """Why ``decision`` follows from ``facts`` under its policy, in one short line.

    For example "user_created: no PoP fallback" or "runner dead: never revived"."""
    if decision.post_heartbeat:
        return _heartbeat_rule(facts, decision, heartbeat)
    if not facts.runner_alive:
        said = cloud_said(facts.status)
        if said == "timed_out":
            return "runner dead, cloud said timed_out: finalized timed_out"
        return f"runner dead: never revived (cloud said {said})"
    if decision.classification == "active":
        return "cloud says active: reattached"
    if decision.classification == "transient":
        return f"no verdict from the cloud ({cloud_said(facts.status)}): kept conservatively"
    if facts.status.http_status == 401:
        return _unauthorized_rule(facts, decision, pop_reason)
    if facts.status.http_status in _STATUS_WORDS:
        return f"{_STATUS_WORDS[facts.status.http_status]}: finalized"
    return f"cloud says {cloud_said(facts.status)}: finalized"


def _unauthorized_rule(facts: LoopFacts, decision: Decision, pop_reason: str | None) -> str:
    if decision.outcome is not None and decision.outcome.reattach_mode is not None:
        # v4: a local key fault never kills a live loop.
        return f"managed key {pop_reason or 'unusable'}: kept conservatively"
    if decision.policy == V1_LEGACY:
        return "v1-legacy: a 401 is always terminal, no PoP fallback"
    if facts.provenance == "user_created":
        return "user_created: no PoP fallback"
    if pop_reason == "not_configured":
        return "no managed key configured: no PoP fallback"
    if not facts.pop_available:
        return f"managed key {pop_reason or 'unavailable'}: no PoP fallback"
    return "token rejected (401): finalized"


def _heartbeat_rule(facts: LoopFacts, decision: Decision, heartbeat: HeartbeatAnswer | None) -> str:
    said = heartbeat_said(heartbeat)
    if decision.outcome is None:
        return "token rejected (401), PoP available: heartbeat posted, no answer recorded"
    if not facts.runner_alive:
        return f"{V2_POP_UNGUARDED}: heartbeat posted for a dead runner ({said}), then finalized"
    if heartbeat is not None and heartbeat_revived(heartbeat):
        return "token rejected (401), PoP heartbeat revived it: fresh token adopted"
    if decision.outcome.finalize_reason is not None:
        if decision.policy == V2_POP_UNGUARDED and said not in ("401", "404", "410"):
            return f"{V2_POP_UNGUARDED}: an inconclusive heartbeat ({said}) finalizes"
        return f"token rejected (401), PoP heartbeat answered {said}: finalized"
    return f"token rejected (401), PoP heartbeat inconclusive ({said}): kept, stale token kept"
