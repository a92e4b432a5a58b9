"""The audit report: boots and decisions over a time range, per host. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from recovery_ledger.projections.filters import bucket_of
from recovery_ledger.projections.rows import BootRow, DecisionRow
from recovery_ledger.projections.zombies import Finding

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
    boot: str | None = None
    loop: str | None = None

    def admits(self, boot: BootRow) -> bool:
        if self.host is not None and boot.host_id != self.host:
            return False
        if self.boot is not None and boot.boot_id != self.boot:
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


@dataclass
class _Section:
    """The counters of one audit section (the totals, or one host)."""

    boots: int = 0
    interrupted_boots: int = 0
    loops_examined: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    heartbeats: Counter[str] = field(default_factory=Counter)
    revivals: int = 0
    findings: Counter[str] = field(default_factory=Counter)

    def add_boot(self, boot: BootRow) -> None:
        self.boots += 1
        self.interrupted_boots += boot.completed_at is None

    def add_decision(self, row: DecisionRow) -> None:
        self.loops_examined += 1
        self.outcomes[outcome_word(row)] += 1
        word = heartbeat_answer_word(row)
        if word is not None:
            self.heartbeats[word] += 1
        self.revivals += row.token_revived

    def report(self) -> dict[str, Any]:
        return {
            "boots": self.boots,
            "interrupted_boots": self.interrupted_boots,
            "loops_examined": self.loops_examined,
            "outcomes": dict(sorted(self.outcomes.items())),
            "heartbeats": dict(sorted(self.heartbeats.items())),
            "revivals": self.revivals,
            "findings": dict(sorted(self.findings.items())),
        }


class AuditFold:
    """The audit report as a fold: decisions stream through one at a time, so a report
    over a million events holds counters, not rows."""

    def __init__(self, window: AuditRange, boots: Iterable[BootRow]) -> None:
        self.kept = {b.boot_id: b for b in boots if window.admits(b)}
        self.loop = window.loop
        self.totals = _Section()
        self.hosts: dict[str, _Section] = {}
        for boot in self.kept.values():
            self.totals.add_boot(boot)
            self._host(boot.boot_id).add_boot(boot)

    def _host(self, boot_id: str) -> _Section:
        host = self.kept[boot_id].host_id
        section = self.hosts.get(host)
        if section is None:
            section = self.hosts[host] = _Section()
        return section

    def add_decision(self, row: DecisionRow) -> None:
        if row.boot_id in self.kept and self.loop in (None, row.loop_id):
            self.totals.add_decision(row)
            self._host(row.boot_id).add_decision(row)

    def add_finding(self, finding: Finding) -> None:
        if finding.boot_id in self.kept and self.loop in (None, finding.loop_id):
            self.totals.findings[finding.kind] += 1
            self._host(finding.boot_id).findings[finding.kind] += 1

    def report(self) -> dict[str, Any]:
        return {
            "totals": self.totals.report(),
            "hosts": {host: self.hosts[host].report() for host in sorted(self.hosts)},
        }


def audit_report(
    window: AuditRange,
    boots: Iterable[BootRow],
    decisions: Iterable[DecisionRow],
    findings: Iterable[Finding],
) -> dict[str, Any]:
    fold = AuditFold(window, boots)
    for row in decisions:
        fold.add_decision(row)
    for finding in findings:
        fold.add_finding(finding)
    return fold.report()


def audit_buckets(
    window: AuditRange,
    by: str,
    boots: Iterable[BootRow],
    decisions: Iterable[DecisionRow],
    findings: Iterable[Finding],
) -> list[dict[str, Any]]:
    """The audit report once per time bucket (``day``, ``week``, ``month``, UTC) of the boots'
    start, oldest first; still a fold: one set of counters per bucket."""
    kept = [b for b in boots if window.admits(b)]
    buckets: dict[str, list[BootRow]] = {}
    for boot in kept:
        buckets.setdefault(bucket_of(boot.started_at, by), []).append(boot)
    folds = {name: AuditFold(window, members) for name, members in sorted(buckets.items())}
    bucket_of_boot = {b.boot_id: name for name, members in buckets.items() for b in members}
    for row in decisions:
        name = bucket_of_boot.get(row.boot_id)
        if name is not None:
            folds[name].add_decision(row)
    for finding in findings:
        name = bucket_of_boot.get(finding.boot_id)
        if name is not None:
            folds[name].add_finding(finding)
    return [{"bucket": name, **fold.report()} for name, fold in folds.items()]


def csv_rows(
    window: AuditRange, boots: Iterable[BootRow], decisions: Iterable[DecisionRow]
) -> Iterator[dict[str, Any]]:
    """One row per decision in the window, as the decisions stream by."""
    kept = {b.boot_id: b for b in boots if window.admits(b)}
    for d in decisions:
        boot = kept.get(d.boot_id)
        if boot is None or window.loop not in (None, d.loop_id):
            continue
        yield (
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
