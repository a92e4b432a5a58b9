"""Replay: every recorded decision re-derived from its recorded observations, and what-if.

Works on decision rows (``projections.rows``): the observations recorded in a boot are fed
back to a policy exactly as the boot fed them (``domain.policies``), and the result is
compared with what the ledger recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

from recovery_ledger.domain.observations import HeartbeatAnswer, Provenance, StatusAnswer
from recovery_ledger.domain.policies import (
    POLICY_NAMES,
    V3_POP_GUARDED,
    Decision,
    LoopFacts,
    get_policy,
)
from recovery_ledger.domain.rules import rule_in_words
from recovery_ledger.projections.rows import DecisionRow


@dataclass(frozen=True)
class Verdict:
    """One side of a comparison, in the words an engineer reads in a timeline."""

    classification: str | None
    posts_heartbeat: bool | None
    outcome: str | None  # "reattached:<mode>", "finalized:<reason>", or None (undecided)
    adopts_token: bool | None

    def describe(self) -> str:
        if self.outcome is None and self.posts_heartbeat:
            return "would post a heartbeat; the answer is unknown"
        parts = [f"{self.classification}"]
        if self.posts_heartbeat:
            parts.append("heartbeat")
        parts.append(self.outcome or "no outcome recorded")
        if self.adopts_token:
            parts.append("adopts the revived token")
        return ", ".join(parts)


@dataclass(frozen=True)
class ReplayedDecision:
    row: DecisionRow
    policy: str
    recorded: Verdict
    derived: Verdict
    complete: bool  # False for a decision an interrupted boot never finished
    rule: str = ""  # the rule that fired for ``derived``, in words (``domain.rules``)
    recorded_rule: str = ""  # the rule that fired when the decision was recorded

    @property
    def matches(self) -> bool:
        return self.recorded == self.derived

    def differences(self) -> list[str]:
        fields = ("classification", "posts_heartbeat", "outcome", "adopts_token")
        return [
            f"{name}: recorded {getattr(self.recorded, name)!r}, "
            f"{self.policy} gives {getattr(self.derived, name)!r}"
            for name in fields
            if getattr(self.recorded, name) != getattr(self.derived, name)
        ]


def facts_of(row: DecisionRow, provenance: Provenance) -> LoopFacts:
    status = StatusAnswer(row.status_http, row.status_word, row.status_error)
    return LoopFacts(
        provenance=provenance,
        runner_alive=bool(row.alive),
        status=status,
        pop_available=bool(row.pop_available),
        pop_reason=row.pop_reason or "",
    )


def heartbeat_of(row: DecisionRow) -> HeartbeatAnswer | None:
    if not row.heartbeat_answered:
        return None
    return HeartbeatAnswer(row.heartbeat_http, row.heartbeat_revived, row.heartbeat_error)


def recorded_verdict(row: DecisionRow) -> Verdict:
    outcome = None
    if row.outcome == "reattached":
        outcome = f"reattached:{row.reattach_mode}"
    elif row.outcome == "finalized":
        outcome = f"finalized:{row.finalize_reason}"
    # The decision to post is the Classified event's; the heartbeat is begun in a later
    # transaction, so a boot killed in between recorded the decision without the begin.
    posts = row.post_heartbeat if row.post_heartbeat is not None else row.heartbeat_begun
    return Verdict(row.classification, posts, outcome, row.token_revived)


def _verdict(decision: Decision) -> Verdict:
    outcome = decision.outcome
    if outcome is None:
        return Verdict(decision.classification, decision.post_heartbeat, None, None)
    text = (
        f"reattached:{outcome.reattach_mode}"
        if outcome.reattach_mode
        else f"finalized:{outcome.finalize_reason}"
    )
    return Verdict(
        decision.classification, decision.post_heartbeat, text, outcome.adopt_revived_token
    )


def replay_decision(
    row: DecisionRow, provenance: Provenance, policy: str | None = None
) -> ReplayedDecision:
    """Re-derive ``row`` with ``policy`` (default: the policy that made it).

    A heartbeat answer is only fed to a policy that asks for one; a policy that asks
    when none was recorded gets no answer, and its outcome stays unknown.
    """
    name = policy or row.policy or V3_POP_GUARDED
    decide = get_policy(name)
    facts = facts_of(row, provenance)
    first = decide(facts, None)
    decision = decide(facts, heartbeat_of(row)) if first.post_heartbeat else first
    recorded = recorded_verdict(row)
    derived = _verdict(decision)
    if decision.outcome is not None and not decision.outcome.adopt_revived_token:
        derived = Verdict(derived.classification, derived.posts_heartbeat, derived.outcome, False)
    complete = row.classification is not None and row.outcome is not None
    if not complete and policy is None:
        # An interrupted boot: compare only what it got as far as recording.
        derived = Verdict(
            derived.classification if row.classification is not None else None,
            derived.posts_heartbeat if row.classification is not None else None,
            None,
            recorded.adopts_token,
        )
        recorded = Verdict(
            recorded.classification,
            recorded.posts_heartbeat if row.classification is not None else None,
            None,
            recorded.adopts_token,
        )
    rule = rule_in_words(facts, decision, heartbeat_of(row), row.pop_reason)
    recorded_rule = rule if policy is None else replay_decision(row, provenance).rule
    return ReplayedDecision(row, name, recorded, derived, complete, rule, recorded_rule)


def what_ifs(row: DecisionRow, provenance: Provenance) -> list[ReplayedDecision]:
    """What each other policy would have done with the same observations, where it differs
    from what was recorded."""
    others = (replay_decision(row, provenance, name) for name in POLICY_NAMES if name != row.policy)
    return [other for other in others if not other.matches]
