"""A loop's whole story, in order: registration, tokens (jti only), every boot's
observations, each decision with the rule that fired, a finalize by the host. Pure.

Dispatches on the event classes of ``domain.loop``; a token itself never appears (events
hold it sealed, and nothing here reads that field).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from recovery_ledger.domain.loop import Loop
from recovery_ledger.projections.replay import ReplayedDecision


@dataclass(frozen=True)
class StoryEntry:
    at: datetime
    boot_id: str | None
    kind: str
    summary: str
    detail: dict[str, Any] = field(default_factory=dict)
    decision: ReplayedDecision | None = None  # on a boot's outcome: the decision re-derived
    what_ifs: tuple[ReplayedDecision, ...] = ()  # other policies, where they differ


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _registered(e: Loop.Registered, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    host = hosts.get(e.host_id, e.host_id)
    return (
        "registered",
        f"registered: {e.provenance}, pid {e.pid}, host {host}",
        {
            "provenance": e.provenance,
            "pid": e.pid,
            "host_id": e.host_id,
            "host_name": hosts.get(e.host_id),
        },
    )


def _token_issued(e: Loop.TokenIssued, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    verb = "issued at registration" if e.source == "registered" else "rotated by the host"
    return (
        "token_issued" if e.source == "registered" else "token_rotated",
        f"token {verb}: jti {e.jti}, expires {_time(e.expires_at)}",
        {"jti": e.jti, "expires_at": e.expires_at},
    )


def _runner(e: Loop.RunnerObserved, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    state = "alive" if e.alive else "dead"
    return (
        "runner_observed",
        f"runner pid {e.pid} {state} ({e.reason})",
        {"pid": e.pid, "alive": e.alive, "reason": e.reason},
    )


def _cloud(e: Loop.CloudAnswered, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    said = e.error or e.status or str(e.http_status)
    http = f" (HTTP {e.http_status})" if e.http_status is not None and e.status else ""
    return (
        "cloud_answered",
        f"cloud status, attempt {e.attempt}: {said}{http}",
        {"attempt": e.attempt, "http_status": e.http_status, "status": e.status, "error": e.error},
    )


def _rejected(e: Loop.JwtRejected, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    return "jwt_rejected", f"runner token rejected: jti {e.jti}", {"jti": e.jti}


def _classified(e: Loop.Classified, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    pop = "PoP available" if e.pop_available else f"PoP unavailable ({e.pop_reason})"
    return (
        "classified",
        f"classified {e.classification} by {e.policy}; {pop}",
        {
            "policy": e.policy,
            "classification": e.classification,
            "pop_available": e.pop_available,
            "pop_reason": e.pop_reason,
            "post_heartbeat": e.post_heartbeat,
        },
    )


def _begun(e: Loop.PopHeartbeatBegun, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    return (
        "heartbeat_begun",
        f"PoP heartbeat begun: proof jti {e.proof_jti}",
        {"proof_jti": e.proof_jti},
    )


def _posted(
    e: Loop.PopHeartbeatPosted, hosts: Mapping[str, str]
) -> tuple[str, str, dict[str, Any]]:
    said: str
    if e.error is not None:
        said = e.error
    elif e.http_status == 200:
        said = "revived" if e.revived else "not revived"
    else:
        said = str(e.http_status)
    return (
        "heartbeat_answered",
        f"heartbeat answered: {said}",
        {"http_status": e.http_status, "revived": e.revived, "error": e.error},
    )


def _revived(e: Loop.TokenRevived, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    return (
        "token_revived",
        f"fresh token adopted: jti {e.jti}, expires {_time(e.expires_at)}",
        {"jti": e.jti, "expires_at": e.expires_at},
    )


def _reattached(e: Loop.Reattached, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    return "reattached", f"reattached, mode {e.mode}", {"mode": e.mode}


def _finalized(e: Loop.Finalized, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    detail = {"reason": e.reason, "by": e.by, "cloud_last_word": e.cloud_last_word}
    if e.boot_id is None:
        return "finalized", f"finalized by the {e.by}: {e.reason}", detail
    return "finalized", f"finalized {e.reason}", detail


def _cleared(e: Loop.TokenCleared, hosts: Mapping[str, str]) -> tuple[str, str, dict[str, Any]]:
    return "token_cleared", f"token cleared (jti {e.jti}); its key shredded", {"jti": e.jti}


_ENTRIES: dict[type[Any], Callable[[Any, Mapping[str, str]], tuple[str, str, dict[str, Any]]]] = {
    Loop.Registered: _registered,
    Loop.TokenIssued: _token_issued,
    Loop.RunnerObserved: _runner,
    Loop.CloudAnswered: _cloud,
    Loop.JwtRejected: _rejected,
    Loop.Classified: _classified,
    Loop.PopHeartbeatBegun: _begun,
    Loop.PopHeartbeatPosted: _posted,
    Loop.TokenRevived: _revived,
    Loop.Reattached: _reattached,
    Loop.Finalized: _finalized,
    Loop.TokenCleared: _cleared,
}
_OUTCOMES = frozenset({"reattached", "finalized"})


def loop_story(
    events: Iterable[Any],
    hosts: Mapping[str, str],
    decisions: Mapping[str, ReplayedDecision],
    what_ifs: Mapping[str, list[ReplayedDecision]],
) -> list[StoryEntry]:
    """The loop's events as story entries, in ledger order. ``decisions`` and ``what_ifs``
    are keyed by boot id; a boot's outcome entry carries them."""
    story: list[StoryEntry] = []
    for event in events:
        describe = _ENTRIES.get(type(event))
        if describe is None:
            continue
        kind, summary, detail = describe(event, hosts)
        boot_value = getattr(event, "boot_id", None)
        boot_id = None if boot_value is None else str(boot_value)
        entry = StoryEntry(event.timestamp, boot_id, kind, summary, detail)
        if kind in _OUTCOMES and boot_id is not None:
            decision = decisions.get(boot_id)
            entry = StoryEntry(
                entry.at,
                boot_id,
                kind,
                f"{summary}, because {decision.rule}" if decision else summary,
                detail,
                decision,
                tuple(what_ifs.get(boot_id, ())),
            )
        story.append(entry)
    return story
