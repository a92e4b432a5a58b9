"""``show loop ID``: a loop's whole life in order, each decision with the rule that fired,
what the other policies would have done where they differ, and its findings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.loop_commands import loop_row_view
from recovery_ledger.infra.cli.output import emit_json, human_time, iso, terminal_safe
from recovery_ledger.infra.cli.read_commands import finding_view
from recovery_ledger.infra.cli.read_filters import host_names, read_filter, say_nothing_matches
from recovery_ledger.infra.cli.table import paint
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.projections.filters import ReadFilter, short_id
from recovery_ledger.projections.replay import ReplayedDecision, replay_decision, what_ifs
from recovery_ledger.projections.rows import BootRow
from recovery_ledger.projections.story import StoryEntry, loop_story

SCHEMA_VERSION = 1


def what_if_view(other: ReplayedDecision) -> dict[str, Any]:
    return {
        "policy": other.policy,
        "summary": other.derived.describe(),
        "rule": other.rule,
        "differences": other.differences(),
    }


def entry_view(entry: StoryEntry) -> dict[str, Any]:
    detail = {k: iso(v) if isinstance(v, datetime) else v for k, v in entry.detail.items()}
    view: dict[str, Any] = {
        "at": iso(entry.at),
        "boot_id": entry.boot_id,
        "kind": entry.kind,
        "summary": entry.summary,
        "detail": detail,
    }
    if entry.decision is not None:
        view["rule"] = entry.decision.rule
        view["what_if"] = [what_if_view(w) for w in entry.what_ifs]
    return view


def _admits(wanted: ReadFilter, entry: StoryEntry) -> bool:
    if wanted.boot is not None and entry.boot_id != wanted.boot:
        return False
    return wanted.admits_time(entry.at)


def cmd_show_loop(ctx: CommandContext) -> int:
    from recovery_ledger.domain.loop import loop_aggregate_id
    from recovery_ledger.infra.projection_store.store import caught_up

    loop_id = ctx.args.loop_id
    app = ctx.open()
    store = caught_up(app)
    loops = store.loops()
    row = next((r for r in loops if r.loop_id == loop_id), None)
    if row is None:
        raise BadInputError(f"unknown loop {loop_id!r}")
    boots = store.boots()
    wanted = read_filter(ctx.args, boots, loops, app)
    decisions = store.decisions("loop_id = ?", (loop_id,))
    replayed = {d.boot_id: replay_decision(d, row.provenance) for d in decisions}
    others = {d.boot_id: what_ifs(d, row.provenance) for d in decisions}
    events = app.events.get(loop_aggregate_id(loop_id))
    hosts = host_names(boots, loops)
    story = [e for e in loop_story(events, hosts, replayed, others) if _admits(wanted, e)]
    findings = [
        f
        for f in store.findings()
        if f.loop_id == loop_id and wanted.boot in (None, f.boot_id) and wanted.admits_time(f.at)
    ]
    if not story:
        say_nothing_matches(f"events of loop {terminal_safe(loop_id)}", ctx.args)
    if ctx.json:
        emit_json(
            {
                "schema_version": SCHEMA_VERSION,
                "loop": {**loop_row_view(row), "host_name": hosts.get(row.host_id)},
                "timeline": [entry_view(e) for e in story],
                "findings": [finding_view(f) for f in findings],
            }
        )
        return 0
    _print_story(
        row.loop_id,
        loop_row_view(row),
        hosts,
        {b.boot_id: b for b in boots},
        story,
        [finding_view(f) for f in findings],
    )
    return 0


def _boot_heading(boot_id: str, boot: BootRow | None) -> str:
    if boot is None:
        return f"boot {short_id(boot_id)}"
    state = "completed" if boot.completed_at else "interrupted"
    return terminal_safe(
        f"boot {short_id(boot_id)} ({boot.policy}, host {boot.host_name}, "
        f"started {human_time(boot.started_at)}, {state})"
    )


def _print_story(
    loop_id: str,
    loop: dict[str, Any],
    hosts: dict[str, str],
    boots: dict[str, BootRow],
    story: list[StoryEntry],
    findings: list[dict[str, Any]],
) -> None:
    token = loop["token"]
    held = f"token {token['jti']} ({token['source']})" if token else "no token"
    state = loop["state"] + (f" ({loop['finalize_reason']})" if loop["finalize_reason"] else "")
    print(
        terminal_safe(
            f"loop {loop_id}: {loop['provenance']}, pid {loop['pid']}, "
            f"host {hosts.get(loop['host_id'], loop['host_id'])}, {state}, {held}, "
            f"revivals {loop['revivals']}"
        )
    )
    current_boot: str | None = None
    for entry in story:
        if entry.boot_id != current_boot and entry.boot_id is not None:
            print(_boot_heading(entry.boot_id, boots.get(entry.boot_id)))
        current_boot = entry.boot_id
        indent = "  " if entry.boot_id is not None else ""
        print(f"{indent}{iso(entry.at)}  {terminal_safe(entry.summary)}")
        for other in entry.what_ifs:
            line = (
                f"{indent}    {other.policy} would have: {other.derived.describe()}, "
                f"because {other.rule}"
            )
            print(paint(line, "difference"))
    print(f"findings: {len(findings) or 'none'}")
    for finding in findings:
        line = (
            f"  !! {finding['kind']} in boot {short_id(finding['boot_id'])}: "
            f"{terminal_safe(finding['detail'])}"
        )
        print(paint(line, "finding"))
