"""The audit report: boots and decisions over a time range, per host. Pure."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.rows import BootRow, DecisionRow
from projections.zombies import Finding

# Stable, documented (docs/read-side.md): a spreadsheet or a SQL engine may rely on them.
CSV_COLUMNS = (
    "boot_id",
    "boot_started_at",
    "host_id",
    "policy",
    "loop_id",
    "observed_at",
    "pid_alive",
    "liveness_reason",
    "status_attempts",
    "status_http",
    "status_word",
    "status_error",
    "classification",
    "pop_available",
    "pop_reason",
    "heartbeat_posted",
    "heartbeat_http",
    "heartbeat_revived",
    "heartbeat_error",
    "token_revived",
    "outcome",
    "reattach_mode",
    "finalize_reason",
    "cloud_last_word",
    "decided_at",
)


@dataclass(frozen=True)
class AuditRange:
    since: datetime | None
    until: datetime | None
    host: str | None

    def admits(self, boot: BootRow) -> bool:
        if self.host is not None and boot.host_id != self.host:
            return False
        if self.since is not None and boot.started_at < self.since:
            return False
        return self.until is None or boot.started_at < self.until


def heartbeat_answer_word(row: DecisionRow) -> str | None:
    if not row.heartbeat_begun:
        return None
    if not row.heartbeat_answered:
        return "unanswered"
    if row.heartbeat_error:
        return row.heartbeat_error
    if row.heartbeat_http == 200:
        return "revived" if row.heartbeat_revived else "not_revived"
    return str(row.heartbeat_http)


def outcome_word(row: DecisionRow) -> str:
    if row.outcome == "reattached":
        return f"reattached:{row.reattach_mode}"
    if row.outcome == "finalized":
        return f"finalized:{row.finalize_reason}"
    return "undecided"


def _section(
    boots: list[BootRow], decisions: list[DecisionRow], findings: list[Finding]
) -> dict[str, Any]:
    return {
        "boots": len(boots),
        "interrupted_boots": sum(1 for b in boots if b.completed_at is None),
        "loops_examined": len(decisions),
        "outcomes": dict(sorted(Counter(outcome_word(d) for d in decisions).items())),
        "heartbeats": dict(
            sorted(
                Counter(w for d in decisions if (w := heartbeat_answer_word(d)) is not None).items()
            )
        ),
        "revivals": sum(1 for d in decisions if d.token_revived),
        "findings": dict(sorted(Counter(f.kind for f in findings).items())),
    }


def audit_report(
    window: AuditRange, boots: list[BootRow], decisions: list[DecisionRow], findings: list[Finding]
) -> dict[str, Any]:
    kept = {b.boot_id: b for b in boots if window.admits(b)}
    rows = [d for d in decisions if d.boot_id in kept]
    found = [f for f in findings if f.boot_id in kept]
    hosts = sorted({b.host_id for b in kept.values()})
    per_host = {
        host: _section(
            [b for b in kept.values() if b.host_id == host],
            [d for d in rows if kept[d.boot_id].host_id == host],
            [f for f in found if kept[f.boot_id].host_id == host],
        )
        for host in hosts
    }
    return {"totals": _section(list(kept.values()), rows, found), "hosts": per_host}


def csv_rows(
    window: AuditRange, boots: list[BootRow], decisions: list[DecisionRow]
) -> list[dict[str, Any]]:
    kept = {b.boot_id: b for b in boots if window.admits(b)}
    out = []
    for d in decisions:
        boot = kept.get(d.boot_id)
        if boot is None:
            continue
        out.append(
            {
                "boot_id": d.boot_id,
                "boot_started_at": boot.started_at,
                "host_id": boot.host_id,
                "policy": d.policy or boot.policy,
                "loop_id": d.loop_id,
                "observed_at": d.observed_at,
                "pid_alive": d.alive,
                "liveness_reason": d.liveness_reason,
                "status_attempts": d.status_attempts,
                "status_http": d.status_http,
                "status_word": d.status_word,
                "status_error": d.status_error,
                "classification": d.classification,
                "pop_available": d.pop_available,
                "pop_reason": d.pop_reason,
                "heartbeat_posted": d.heartbeat_begun,
                "heartbeat_http": d.heartbeat_http,
                "heartbeat_revived": d.heartbeat_revived,
                "heartbeat_error": d.heartbeat_error,
                "token_revived": d.token_revived,
                "outcome": d.outcome,
                "reattach_mode": d.reattach_mode,
                "finalize_reason": d.finalize_reason,
                "cloud_last_word": d.cloud_last_word,
                "decided_at": d.decided_at,
            }
        )
    return out
