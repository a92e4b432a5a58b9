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


@dataclass(frozen=True)
class DecisionTally:
    """Decisions of one boot that read alike in the report, and how many there are: the
    audit counts tallies, which a SQL engine can group, not rows one by one. A tally has
    no loop: a report about one loop gets tallies of that loop's decisions only."""

    boot_id: str
    outcome: str | None
    reattach_mode: str | None
    finalize_reason: str | None
    heartbeat_begun: bool
    heartbeat_answered: bool
    heartbeat_http: int | None
    heartbeat_revived: bool | None
    heartbeat_error: str | None
    count: int
    revivals: int

    @classmethod
    def of(cls, row: DecisionRow) -> DecisionTally:
        return cls(
            row.boot_id,
            row.outcome,
            row.reattach_mode,
            row.finalize_reason,
            row.heartbeat_begun,
            row.heartbeat_answered,
            row.heartbeat_http,
            row.heartbeat_revived,
            row.heartbeat_error,
            1,
            int(row.token_revived),
        )


# The columns a tally groups by, in its field order (``DecisionTally`` minus the counts).
TALLY_COLUMNS = tuple(
    name for name in DecisionTally.__dataclass_fields__ if name not in ("count", "revivals")
)


@dataclass(frozen=True)
class FindingTally:
    """Findings of one kind in one boot (of one loop, when the report is about one)."""

    boot_id: str
    kind: str
    count: int


def heartbeat_answer_word(row: DecisionRow | DecisionTally) -> str | None:
    if not row.heartbeat_begun:
        return None
    if not row.heartbeat_answered:
        return "unanswered"
    if row.heartbeat_error:
        return row.heartbeat_error
    if row.heartbeat_http == 200:
        return "revived" if row.heartbeat_revived else "not_revived"
    return str(row.heartbeat_http)


def outcome_word(row: DecisionRow | DecisionTally) -> str:
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

    def add_decisions(self, tally: DecisionTally) -> None:
        self.loops_examined += tally.count
        self.outcomes[outcome_word(tally)] += tally.count
        word = heartbeat_answer_word(tally)
        if word is not None:
            self.heartbeats[word] += tally.count
        self.revivals += tally.revivals

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
    """The audit report as a fold over decisions or their tallies, so a report over a
    million events holds counters, not rows."""

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

    def add_decision(self, decision: DecisionRow | DecisionTally) -> None:
        """A row, kept when it is of the window's loop; or a tally, already of that loop."""
        if isinstance(decision, DecisionRow):
            if self.loop not in (None, decision.loop_id):
                return
            decision = DecisionTally.of(decision)
        if decision.boot_id in self.kept:
            self.totals.add_decisions(decision)
            self._host(decision.boot_id).add_decisions(decision)

    def add_finding(self, finding: Finding | FindingTally) -> None:
        """A finding, kept when it is of the window's loop; or a tally, already of it."""
        if isinstance(finding, Finding):
            if self.loop not in (None, finding.loop_id):
                return
            finding = FindingTally(finding.boot_id, finding.kind, 1)
        if finding.boot_id in self.kept:
            self.totals.findings[finding.kind] += finding.count
            self._host(finding.boot_id).findings[finding.kind] += finding.count

    def report(self) -> dict[str, Any]:
        return {
            "totals": self.totals.report(),
            "hosts": {host: self.hosts[host].report() for host in sorted(self.hosts)},
        }


def audit_report(
    window: AuditRange,
    boots: Iterable[BootRow],
    decisions: Iterable[DecisionRow | DecisionTally],
    findings: Iterable[Finding | FindingTally],
) -> dict[str, Any]:
    """The same report from decision rows or their tallies, findings or theirs."""
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
    decisions: Iterable[DecisionRow | DecisionTally],
    findings: Iterable[Finding | FindingTally],
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
