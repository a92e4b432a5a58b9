"""``replay``, ``zombies``, ``audit``, ``projections rebuild``: all read caught-up projections."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, emit_table, iso, terminal_safe
from recovery_ledger.infra.cli.read_filters import host_names, read_filter, say_nothing_matches
from recovery_ledger.infra.cli.table import paint
from recovery_ledger.projections.audit import (
    CSV_COLUMNS,
    AuditRange,
    audit_buckets,
    audit_report,
    csv_rows,
)
from recovery_ledger.projections.filters import ReadFilter, short_id
from recovery_ledger.projections.replay import ReplayedDecision, Verdict, replay_decision
from recovery_ledger.projections.rows import BootRow, DecisionRow
from recovery_ledger.projections.zombies import Finding

SCHEMA_VERSION = 1
DIFF = "difference"


def _store(ctx: CommandContext):  # type: ignore[no-untyped-def]
    from recovery_ledger.infra.projection_store.store import caught_up

    return caught_up(ctx.open())


# -- replay --------------------------------------------------------------------------------


def _verdict_view(verdict: Verdict) -> dict[str, Any]:
    return {
        "classification": verdict.classification,
        "posts_heartbeat": verdict.posts_heartbeat,
        "outcome": verdict.outcome,
        "adopts_token": verdict.adopts_token,
        "summary": verdict.describe(),
    }


def _decision_view(replayed: ReplayedDecision) -> dict[str, Any]:
    row = replayed.row
    return {
        "loop_id": row.loop_id,
        "observed_at": iso(row.observed_at),
        "runner": {"alive": row.alive, "reason": row.liveness_reason},
        "cloud": {
            "attempts": row.status_attempts,
            "http_status": row.status_http,
            "status": row.status_word,
            "error": row.status_error,
        },
        "classification": row.classification,
        "pop": {"available": row.pop_available, "reason": row.pop_reason},
        "heartbeat": None
        if not row.heartbeat_begun
        else {
            "proof_jti": row.proof_jti,
            "answered": row.heartbeat_answered,
            "http_status": row.heartbeat_http,
            "revived": row.heartbeat_revived,
            "error": row.heartbeat_error,
        },
        "token_revived": row.token_revived,
        "outcome": row.outcome,
        "reattach_mode": row.reattach_mode,
        "finalize_reason": row.finalize_reason,
        "cloud_last_word": row.cloud_last_word,
        "decided_at": iso(row.decided_at),
        "complete": replayed.complete,
        "recorded": _verdict_view(replayed.recorded),
        "rederived": {
            "policy": replayed.policy,
            **_verdict_view(replayed.derived),
            "rule": replayed.rule,
        },
        "rule": replayed.recorded_rule,
        "matches": replayed.matches,
        "differences": replayed.differences(),
        "evidence": list(row.evidence),
    }


def _boot_view(boot: BootRow | None, boot_id: str) -> dict[str, Any]:
    if boot is None:
        return {"boot_id": boot_id}
    return {
        "boot_id": boot.boot_id,
        "short_id": short_id(boot.boot_id),
        "policy": boot.policy,
        "host_id": boot.host_id,
        "host_name": boot.host_name,
        "app_version": boot.app_version,
        "started_at": iso(boot.started_at),
        "completed_at": iso(boot.completed_at),
        "interrupted": boot.completed_at is None,
    }


def cmd_replay(ctx: CommandContext) -> int:
    from recovery_ledger.domain.policies import get_policy

    args = ctx.args
    if args.policy is not None:
        get_policy(args.policy)
    store = _store(ctx)
    # One loop's replay reads that loop's row only (a fleet ledger has thousands); the host
    # filter needs them all to resolve a host name.
    loop_rows = (
        store.loops_named(args.loop)
        if args.loop is not None and args.host is None
        else store.loops()
    )
    loops = {row.aggregate_id: row for row in loop_rows}
    boots = {row.boot_id: row for row in store.boots()}
    wanted = read_filter(args, list(boots.values()), loop_rows, store.app)
    # Filtered in SQL (indexed): one loop's timeline in a ledger of a million events
    # must not load every decision of every boot.
    where = [
        f"{column} = ?"
        for column, value in (("loop_id", wanted.loop), ("boot_id", wanted.boot))
        if value is not None
    ]
    params = [value for value in (wanted.loop, wanted.boot) if value is not None]
    decisions = [
        d
        for d in store.decisions(" AND ".join(where), params)
        if wanted.admits_decision(d, boots.get(d.boot_id))
    ]
    replayed = [
        replay_decision(d, loops[d.aggregate_id].provenance, args.policy) for d in decisions
    ]
    mismatches = [r for r in replayed if not r.matches]
    if not replayed:
        say_nothing_matches("decisions", args)
    shown = mismatches if args.only_differences else replayed
    # Grouped once: the JSON and the timeline are linear in boots, not boots x decisions.
    by_boot: dict[str, list[ReplayedDecision]] = {}
    for r in shown:
        by_boot.setdefault(r.row.boot_id, []).append(r)
    order = [b for b in boots if b in by_boot]
    if ctx.json:
        emit_json(
            {
                "schema_version": SCHEMA_VERSION,
                "policy": args.policy,
                "only_differences": args.only_differences,
                "boots": [
                    {
                        **_boot_view(boots.get(b), b),
                        "decisions": [_decision_view(r) for r in by_boot[b]],
                    }
                    for b in order
                ],
                "decisions": len(replayed),
                "differences": len(mismatches),
            }
        )
    else:
        _print_timeline(order, boots, by_boot, args.policy)
        differing = len(mismatches)
        against = f"against {args.policy}" if args.policy else "against the recorded policy"
        print(f"{len(replayed)} decisions replayed {against}; {differing} differ")
    from recovery_ledger.infra.cli.exit_codes import OK, REPLAY_DIFFERS

    return REPLAY_DIFFERS if mismatches else OK


def _print_timeline(
    order: list[str],
    boots: dict[str, BootRow],
    by_boot: dict[str, list[ReplayedDecision]],
    policy: str | None,
) -> None:
    for boot_id in order:
        rows = by_boot[boot_id]
        boot = boots[boot_id]
        state = "completed" if boot.completed_at else "INTERRUPTED (never completed)"
        print(
            f"boot {boot_id}  {iso(boot.started_at)}  {boot.policy}  "
            f"host {terminal_safe(boot.host_name)}  {state}"
        )
        for r in rows:
            print(_timeline_line(r.row))
            print(f"      because {r.recorded_rule}")
            if not r.matches:
                label = f"{policy} would have" if policy else "re-derived differs"
                print(paint(f"    !! {label}: {r.derived.describe()}, because {r.rule}", DIFF))
                for difference in r.differences():
                    print(paint(f"       - {difference}", DIFF))


def _timeline_line(row: DecisionRow) -> str:
    runner = "alive" if row.alive else f"dead ({row.liveness_reason})"
    cloud = row.status_word or row.status_error or row.status_http
    heartbeat = ""
    if row.heartbeat_begun:
        answer = (
            (row.heartbeat_error or ("revived" if row.heartbeat_revived else row.heartbeat_http))
            if row.heartbeat_answered
            else "NO ANSWER"
        )
        heartbeat = f", heartbeat -> {answer}"
    outcome = (
        f"{row.outcome} {row.reattach_mode or row.finalize_reason}"
        if row.outcome
        else "no outcome recorded"
    )
    return (
        f"  {iso(row.observed_at)}  {terminal_safe(row.loop_id)}: runner {runner}, "
        f"cloud {cloud} (x{row.status_attempts}), {row.classification}{heartbeat} => {outcome}"
    )


# -- zombies ----------------------------------------------------------------------------------


def finding_view(f: Finding) -> dict[str, Any]:
    return {
        "kind": f.kind,
        "loop_id": f.loop_id,
        "boot_id": f.boot_id,
        "at": iso(f.at),
        "detail": f.detail,
        "evidence": list(f.evidence),
    }


def cmd_zombies(ctx: CommandContext) -> int:
    store = _store(ctx)
    boots = {row.boot_id: row for row in store.boots()}
    wanted = read_filter(ctx.args, list(boots.values()), store.loops(), store.app)
    recorded = store.findings() + _heartbeats_no_boot_will_answer(ctx, store, boots)
    findings = [f for f in recorded if _admits_finding(wanted, f, boots.get(f.boot_id))]
    if not findings and wanted.active:
        say_nothing_matches("findings", ctx.args)
    views = [finding_view(f) for f in findings]
    if ctx.json:
        emit_json({"schema_version": SCHEMA_VERSION, "findings": views})
        return 0
    emit_table(
        ["kind", "loop", "boot", "at", "detail"],
        [[f.kind, f.loop_id, short_id(f.boot_id), f.at, f.detail] for f in findings],
        ["finding"] * len(views),
        wide=ctx.args.wide,
    )
    return 0


def _heartbeats_no_boot_will_answer(
    ctx: CommandContext, store: Any, boots: dict[str, BootRow]
) -> list[Finding]:
    """``interrupted_heartbeat`` for the newest boot as soon as it is over (contract section
    6): the projection cannot know that a boot that never completed is dead, the boot lock
    can. Tried without waiting; while a boot holds it, that boot may still get its answers."""
    from recovery_ledger.infra.boot.lock import boot_lock
    from recovery_ledger.infra.errors import LedgerBusyError
    from recovery_ledger.infra.projection_store.schema import PENDING_HEARTBEAT
    from recovery_ledger.projections.zombies import findings_for

    if not boots:
        return []
    newest = max(boots.values(), key=lambda b: (b.started_at, b.boot_id))
    if newest.completed_at is not None:
        return []
    pending = store.decisions(f"{PENDING_HEARTBEAT} AND boot_id = ?", (newest.boot_id,))
    if not pending:
        return []
    try:
        with boot_lock(ctx.location, newest.host_id):
            pass
    except LedgerBusyError:
        return []
    provenance = {row.aggregate_id: row.provenance for row in store.loops()}
    return [
        finding
        for row in pending
        for finding in findings_for(row, provenance=provenance[row.aggregate_id], boot_over=True)
        if finding.kind == "interrupted_heartbeat"
    ]


def _admits_finding(wanted: ReadFilter, finding: Finding, boot: BootRow | None) -> bool:
    if wanted.loop is not None and finding.loop_id != wanted.loop:
        return False
    return boot is not None and wanted.admits_boot(boot)


# -- audit --------------------------------------------------------------------------------------


def cmd_audit(ctx: CommandContext) -> int:
    args = ctx.args
    store = _store(ctx)
    boots = store.boots()
    wanted = read_filter(args, boots, store.loops(), store.app)
    window = AuditRange(wanted.since, wanted.until, wanted.host, wanted.boot, wanted.loop)
    fmt = args.format or ("json" if ctx.json else "table")
    if not any(window.admits(b) for b in boots):
        say_nothing_matches("boots", args)
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv_rows(window, boots, store.stream_decisions()):
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        return 0
    document: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "since": iso(window.since),
        "until": iso(window.until),
        "host": window.host,
        "by": args.by,
    }
    # Grouped by the engine (and filtered to the loop there): hundreds of tallies to count,
    # not a decoded row per decision.
    decisions = store.decision_tallies(window.loop)
    findings = store.finding_tallies(window.loop)
    if args.by is None:
        document.update(audit_report(window, boots, decisions, findings))
    else:
        document["buckets"] = audit_buckets(window, args.by, boots, decisions, findings)
    if fmt == "json":
        emit_json(document)
        return 0
    _print_audit(document, host_names(boots, []))
    return 0


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _print_audit(document: dict[str, Any], names: dict[str, str]) -> None:
    since, until = document["since"] or "the beginning", document["until"] or "now"
    print(f"audit from {since} until {until}")
    if document["by"] is None:
        _print_sections(document, names, "")
        return
    for bucket in document["buckets"]:
        print(f"\n== {bucket['bucket']}")
        _print_sections(bucket, names, "  ")


def _print_sections(document: dict[str, Any], names: dict[str, str], indent: str) -> None:
    sections = [("all hosts", document["totals"])]
    if len(document["hosts"]) > 1:
        sections += [(names.get(h, h), s) for h, s in document["hosts"].items()]
    for name, section in sections:
        print(
            f"{indent}[{terminal_safe(name)}] boots {section['boots']} "
            f"(interrupted {section['interrupted_boots']}), "
            f"loops examined {section['loops_examined']}, revivals {section['revivals']}"
        )
        for title in ("outcomes", "heartbeats", "findings"):
            counts = section[title]
            line = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
            print(f"{indent}  {title}: {line}")


# -- projections rebuild ----------------------------------------------------------------------


def cmd_projections_rebuild(ctx: CommandContext) -> int:
    from recovery_ledger.infra.projection_store.store import ProjectionStore

    store = ProjectionStore(ctx.open())
    applied = store.rebuild()
    if ctx.json:
        emit_json(
            {
                "schema_version": SCHEMA_VERSION,
                "rebuilt": True,
                "events": applied,
                "position": store.position(),
            }
        )
    else:
        print(f"projections rebuilt from {applied} events")
    return 0
