"""``replay``, ``zombies``, ``audit``, ``projections rebuild``: all read caught-up projections."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, emit_table, iso
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.projection_store.schema import LOOPS
from recovery_ledger.projections.audit import CSV_COLUMNS, AuditRange, audit_report, csv_rows
from recovery_ledger.projections.replay import ReplayedDecision, Verdict, replay_decision
from recovery_ledger.projections.rows import BootRow, DecisionRow, LoopRow


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
        "rederived": {"policy": replayed.policy, **_verdict_view(replayed.derived)},
        "matches": replayed.matches,
        "differences": replayed.differences(),
        "evidence": list(row.evidence),
    }


def _boot_view(boot: BootRow | None, boot_id: str) -> dict[str, Any]:
    if boot is None:
        return {"boot_id": boot_id}
    return {
        "boot_id": boot.boot_id,
        "policy": boot.policy,
        "host_id": boot.host_id,
        "host_name": boot.host_name,
        "app_version": boot.app_version,
        "started_at": iso(boot.started_at),
        "completed_at": iso(boot.completed_at),
        "interrupted": boot.completed_at is None,
    }


def cmd_replay(ctx: CommandContext) -> int:
    from recovery_ledger.domain.policies import UnknownPolicyError, get_policy

    args = ctx.args
    if args.policy is not None:
        try:
            get_policy(args.policy)
        except UnknownPolicyError as error:
            raise BadInputError(str(error)) from None
    store = _store(ctx)
    if args.loop is not None and not store.select(LOOPS, LoopRow, "loop_id = ?", (args.loop,)):
        raise BadInputError(f"unknown loop {args.loop!r}")
    boots = {row.boot_id: row for row in store.boots()}
    if args.boot is not None and args.boot not in boots:
        raise BadInputError(f"unknown boot {args.boot!r}")
    # Filtered in SQL (indexed): one loop's timeline in a ledger of a million events
    # must not load every decision of every boot, nor every loop.
    where = [
        f"{column} = ?"
        for column, value in (("loop_id", args.loop), ("boot_id", args.boot))
        if value is not None
    ]
    params = [value for value in (args.loop, args.boot) if value is not None]
    decisions = store.decisions(" AND ".join(where), params)
    provenance = {
        row.aggregate_id: row.provenance
        for row in store.load(LOOPS, LoopRow, "aggregate_id", {d.aggregate_id for d in decisions})
    }
    replayed = [replay_decision(d, provenance[d.aggregate_id], args.policy) for d in decisions]
    by_boot: dict[str, list[ReplayedDecision]] = {}
    for r in replayed:
        by_boot.setdefault(r.row.boot_id, []).append(r)
    mismatches = [r for r in replayed if not r.matches]
    order = [b for b in boots if args.boot is None or b == args.boot]
    if ctx.json:
        emit_json(
            {
                "policy": args.policy,
                "boots": [
                    {
                        **_boot_view(boots.get(b), b),
                        "decisions": [_decision_view(r) for r in by_boot.get(b, [])],
                    }
                    for b in order
                    if args.loop is None or b in by_boot
                ],
                "decisions": len(replayed),
                "differences": len(mismatches),
            }
        )
    else:
        _print_timeline(order, boots, by_boot, replayed, args.policy)
    return 1 if mismatches else 0


def _print_timeline(
    order: list[str],
    boots: dict[str, BootRow],
    by_boot: dict[str, list[ReplayedDecision]],
    replayed: list[ReplayedDecision],
    policy: str | None,
) -> None:
    for boot_id in order:
        rows = by_boot.get(boot_id, [])
        if not rows:
            continue
        boot = boots[boot_id]
        state = "completed" if boot.completed_at else "INTERRUPTED (never completed)"
        print(
            f"boot {boot_id}  {iso(boot.started_at)}  {boot.policy}  host {boot.host_id}  {state}"
        )
        for r in rows:
            print(_timeline_line(r.row))
            if not r.matches:
                label = f"{policy} would have" if policy else "re-derived differs"
                print(f"    !! {label}: {r.derived.describe()}")
                for difference in r.differences():
                    print(f"       - {difference}")
    differing = sum(1 for r in replayed if not r.matches)
    against = f"against {policy}" if policy else "against the recorded policy"
    print(f"{len(replayed)} decisions replayed {against}; {differing} differ")


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
        f"  {iso(row.observed_at)}  {row.loop_id}: runner {runner}, cloud {cloud} "
        f"(x{row.status_attempts}), {row.classification}{heartbeat} => {outcome}"
    )


# -- zombies ----------------------------------------------------------------------------------


def cmd_zombies(ctx: CommandContext) -> int:
    findings = _store(ctx).findings()
    views = [
        {
            "kind": f.kind,
            "loop_id": f.loop_id,
            "boot_id": f.boot_id,
            "at": iso(f.at),
            "detail": f.detail,
            "evidence": list(f.evidence),
        }
        for f in findings
    ]
    if ctx.json:
        emit_json({"findings": views})
    else:
        emit_table(
            ["kind", "loop", "boot", "at", "detail"],
            [[v["kind"], v["loop_id"], v["boot_id"], v["at"], v["detail"]] for v in views],
        )
    return 0


# -- audit --------------------------------------------------------------------------------------


def parse_time_bound(text: str | None, option: str) -> datetime | None:
    """A date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time with an offset."""
    if text is None:
        return None
    import re

    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        try:
            return datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            pass
    elif re.fullmatch(
        r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})", text
    ):
        try:
            return datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
        except ValueError:
            pass
    raise BadInputError(
        f"{option} must be a date (2026-11-24) or an RFC 3339 time "
        f"(2026-11-24T10:00:00Z), not {text!r}"
    )


def cmd_audit(ctx: CommandContext) -> int:
    args = ctx.args
    window = AuditRange(
        parse_time_bound(args.since, "--since"), parse_time_bound(args.until, "--until"), args.host
    )
    if window.since and window.until and window.since >= window.until:
        raise BadInputError("--since must be before --until")
    fmt = args.format or ("json" if ctx.json else "table")
    store = _store(ctx)
    boots = store.boots()
    if fmt == "csv":
        import csv

        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in csv_rows(window, boots, store.stream_decisions()):
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        return 0
    report = audit_report(window, boots, store.decision_tallies(), store.finding_tallies())
    document = {
        "since": iso(window.since),
        "until": iso(window.until),
        "host": window.host,
        **report,
    }
    if fmt == "json":
        emit_json(document)
        return 0
    _print_audit(document)
    return 0


def _csv_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else value


def _print_audit(document: dict[str, Any]) -> None:
    since, until = document["since"] or "the beginning", document["until"] or "now"
    print(f"audit from {since} until {until}")
    sections = [("all hosts", document["totals"])]
    if len(document["hosts"]) > 1:
        sections += list(document["hosts"].items())
    for name, section in sections:
        print(
            f"\n[{name}] boots {section['boots']} (interrupted {section['interrupted_boots']}), "
            f"loops examined {section['loops_examined']}, revivals {section['revivals']}"
        )
        for title in ("outcomes", "heartbeats", "findings"):
            counts = section[title]
            line = ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"
            print(f"  {title}: {line}")


# -- projections rebuild ----------------------------------------------------------------------


def cmd_projections_rebuild(ctx: CommandContext) -> int:
    from recovery_ledger.infra.projection_store.store import ProjectionStore

    store = ProjectionStore(ctx.open())
    applied = store.rebuild()
    if ctx.json:
        emit_json({"rebuilt": True, "events": applied, "position": store.position()})
    else:
        print(f"projections rebuilt from {applied} events")
    return 0
