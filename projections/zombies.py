"""Zombie findings (docs/contract.md section 6), each a pure function of one decision row.

A finding names the events that prove it (``evidence``: ``Event:aggregate/version@position``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eventsourcing.domain import Aggregate

from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.policies import KEY_UNUSABLE_REASONS
from recovery_ledger.projections.rows import DecisionRow

ALIVE_LAST_WORDS = frozenset({"status:active", "heartbeat:revived"})
FINDING_KINDS = (
    "server_zombie",
    "revived_then_finalized",
    "heartbeat_for_dead_pid",
    "false_kill",
    "interrupted_heartbeat",
    "pop_key_unusable",
)


@dataclass(frozen=True)
class Finding:
    kind: str
    loop_id: str
    boot_id: str
    at: datetime
    detail: str
    evidence: tuple[str, ...]


def may_find(
    *,
    finalized: bool,
    heartbeat_begun: bool,
    heartbeat_answered: bool,
    alive: bool | None,
    status_http: int | None,
    pop_reason: str | None,
) -> bool:
    """False when ``findings_for`` finds nothing in a decision with these values, whatever
    its other values: a rebuild asks ``findings_for`` only about the few rows that may have
    a finding. Keep it a necessary condition of every finding below."""
    return (
        finalized
        or (heartbeat_begun and (alive is False or not heartbeat_answered))
        or (status_http == 401 and pop_reason in KEY_UNUSABLE_REASONS)
    )


def findings_for(row: DecisionRow, *, provenance: str, boot_over: bool) -> list[Finding]:
    """Every finding this decision shows.

    ``boot_over`` says whether the boot can still answer its heartbeat: False only for
    the newest boot while it has not completed (it may still be running).
    """
    found: list[Finding] = []

    def add(kind: str, detail: str, *events: type[Aggregate.Event]) -> None:
        # Evidence is recorded as "<event class name>:<position>" (projections.rows).
        names = {event.__name__ for event in events}
        evidence = tuple(e for e in row.evidence if e.split(":", 1)[0] in names)
        found.append(
            Finding(
                kind, row.loop_id, row.boot_id, row.decided_at or row.observed_at, detail, evidence
            )
        )

    finalized = row.outcome == "finalized"
    if finalized and row.cloud_last_word in ALIVE_LAST_WORDS:
        add(
            "server_zombie",
            f"finalized {row.finalize_reason} while the cloud's last answer was "
            f"{row.cloud_last_word}: the cloud may keep the loop alive with nobody behind it",
            Loop.CloudAnswered,
            Loop.PopHeartbeatPosted,
            Loop.Finalized,
        )
    if finalized and row.token_revived:
        add(
            "revived_then_finalized",
            f"token revived and the loop finalized {row.finalize_reason} in the same boot",
            Loop.TokenRevived,
            Loop.Finalized,
        )
    if row.heartbeat_begun and row.alive is False:
        add(
            "heartbeat_for_dead_pid",
            f"heartbeat posted although the runner was dead ({row.liveness_reason})",
            Loop.RunnerObserved,
            Loop.PopHeartbeatBegun,
        )
    if (
        finalized
        and row.finalize_reason == "unauthorized"
        and row.alive is True
        and provenance == "desktop_managed"
        and row.pop_available
        and not row.heartbeat_begun
    ):
        add(
            "false_kill",
            "live desktop_managed loop with PoP available finalized unauthorized "
            "without a heartbeat",
            Loop.RunnerObserved,
            Loop.CloudAnswered,
            Loop.Classified,
            Loop.Finalized,
        )
    if (
        row.alive is True
        and provenance == "desktop_managed"
        and row.status_http == 401
        and row.pop_reason in KEY_UNUSABLE_REASONS
    ):
        add(
            "pop_key_unusable",
            f"the runner token was rejected while the configured managed key was not usable "
            f"({row.pop_reason}): PoP could not be tried",
            Loop.RunnerObserved,
            Loop.CloudAnswered,
            Loop.Classified,
        )
    if row.heartbeat_begun and not row.heartbeat_answered and boot_over:
        add(
            "interrupted_heartbeat",
            f"heartbeat {row.proof_jti} begun but never answered: the boot died in between",
            Loop.PopHeartbeatBegun,
        )
    return found
