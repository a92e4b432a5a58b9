"""``report --html FILE``: one self-contained HTML incident report (Jinja2, autoescaped).

Jinja2 is imported here only, so no other command pays for it. The page holds per-loop
timelines across boots (inline SVG), every decision with the rule that fired and what the
other policies would have done where they differ, the findings, the result of ``verify``,
the ledger's range and hosts; it requests nothing from anywhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recovery_ledger.domain.observations import Provenance
from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import human_time
from recovery_ledger.infra.cli.read_filters import (
    filters_given,
    host_names,
    read_filter,
    say_nothing_matches,
)
from recovery_ledger.infra.errors import BadInputError, LedgerUnreadableError
from recovery_ledger.projections.audit import heartbeat_answer_word, outcome_word
from recovery_ledger.projections.filters import ReadFilter, short_id
from recovery_ledger.projections.replay import replay_decision, what_ifs
from recovery_ledger.projections.rows import BootRow, DecisionRow, LoopRow
from recovery_ledger.projections.story import StoryEntry, loop_story
from recovery_ledger.projections.zombies import Finding

_WIDTH, _HEIGHT, _LEFT, _RIGHT = 960, 56, 12, 948
_MARK_KIND = {
    "registered": "registered",
    "token_issued": "token",
    "token_rotated": "token",
    "token_revived": "token",
    "token_cleared": "token",
    "runner_observed": "observed",
    "cloud_answered": "observed",
    "jwt_rejected": "observed",
    "classified": "observed",
    "heartbeat_begun": "heartbeat",
    "heartbeat_answered": "heartbeat",
    "reattached": "reattached",
    "finalized": "finalized",
}


class _Scale:
    """Ledger time to x: the report's whole range across the lane's width."""

    def __init__(self, moments: Sequence[datetime]) -> None:
        self.start = min(moments) if moments else datetime.now(UTC)
        span = (max(moments) - self.start).total_seconds() if moments else 0.0
        self.span = span or 1.0

    def x(self, at: datetime) -> float:
        fraction = (at - self.start).total_seconds() / self.span
        return round(_LEFT + fraction * (_RIGHT - _LEFT), 1)


def _anchor(loop_id: str) -> str:
    """An id attribute for any recorded loop id: stable, and only [0-9a-f]."""
    return hashlib.sha256(loop_id.encode("utf-8")).hexdigest()[:16]


def _decision_view(
    row: DecisionRow, provenance: Provenance, findings: list[Finding]
) -> dict[str, Any]:
    replayed = replay_decision(row, provenance)
    runner = "alive" if row.alive else f"dead ({row.liveness_reason})"
    return {
        "boot": short_id(row.boot_id),
        "policy": row.policy,
        "runner": runner if row.alive is not None else "not observed",
        "cloud": row.status_word or row.status_error or row.status_http or "no answer",
        "classification": row.classification or "not classified",
        "heartbeat": heartbeat_answer_word(row) or "none",
        "outcome": outcome_word(row),
        "rule": replayed.recorded_rule,
        "what_ifs": [
            {"policy": w.policy, "summary": w.derived.describe(), "rule": w.rule}
            for w in what_ifs(row, provenance)
        ],
        "findings": [{"kind": f.kind, "detail": f.detail} for f in findings],
    }


def _marks(story: list[StoryEntry], scale: _Scale, finding_boots: set[str]) -> list[dict[str, Any]]:
    marks = []
    for index, entry in enumerate(story):
        kind = _MARK_KIND.get(entry.kind, "observed")
        outcome = kind in ("reattached", "finalized")
        marks.append(
            {
                "kind": kind,
                "x": scale.x(entry.at),
                # Entries of one moment fan out vertically, so none hides another.
                "y": 28 if outcome else 14 + (index % 3) * 14,
                "at": human_time(entry.at),
                "summary": entry.summary,
                "finding": outcome and entry.boot_id in finding_boots,
            }
        )
    return marks


def _loop_view(
    loop: LoopRow,
    story: list[StoryEntry],
    decisions: list[DecisionRow],
    findings: list[Finding],
    hosts: dict[str, str],
    scale: _Scale,
) -> dict[str, Any]:
    by_boot: dict[str, list[Finding]] = {}
    for finding in findings:
        by_boot.setdefault(finding.boot_id, []).append(finding)
    return {
        "loop_id": loop.loop_id,
        "anchor": _anchor(loop.loop_id),
        "provenance": loop.provenance,
        "state": loop.state,
        "finalize_reason": loop.finalize_reason,
        "host_name": hosts.get(loop.host_id, loop.host_id),
        "findings": findings,
        "decisions": [
            _decision_view(d, loop.provenance, by_boot.get(d.boot_id, [])) for d in decisions
        ],
        "marks": _marks(story, scale, set(by_boot)),
        "story": [{"at": human_time(e.at), "summary": e.summary} for e in story],
    }


def _verify(app: Any) -> dict[str, Any]:
    from recovery_ledger.infra.integrity.verify import verify_ledger

    report = verify_ledger(app)
    return {
        "ok": report.ok,
        "events": report.events,
        "checkpoints": report.checkpoints_checked,
        "problems": [p.get("message", str(p)) for p in report.problems[:20]],
    }


def _boot_view(boot: BootRow) -> dict[str, Any]:
    return {
        "short_id": short_id(boot.boot_id),
        "started_at": human_time(boot.started_at),
        "policy": boot.policy,
        "host_name": boot.host_name,
        "state": "completed" if boot.completed_at else "interrupted",
        "examined": boot.examined,
        "reattached": boot.reattached,
        "revived": boot.revived,
        "finalized": boot.finalized,
        "heartbeats_posted": boot.heartbeats_posted,
    }


def build_context(ctx: CommandContext, app: Any, wanted: ReadFilter) -> dict[str, Any]:
    from recovery_ledger.domain.loop import loop_aggregate_id
    from recovery_ledger.infra.projection_store.store import caught_up
    from recovery_ledger.infra.version import __version__

    store = caught_up(app)
    all_boots, all_loops = store.boots(), store.loops()
    hosts = host_names(all_boots, all_loops)
    boots = {b.boot_id: b for b in all_boots if wanted.admits_boot(b)}
    loops = [r for r in all_loops if wanted.admits_loop(r)]
    decisions = [d for d in store.decisions() if wanted.admits_decision(d, boots.get(d.boot_id))]
    findings = [
        f for f in store.findings() if f.boot_id in boots and wanted.loop in (None, f.loop_id)
    ]
    if wanted.boot is not None or wanted.since is not None or wanted.until is not None:
        examined = {d.aggregate_id for d in decisions}
        loops = [r for r in loops if r.aggregate_id in examined]
    stories = {}
    for row in loops:
        mine = [d for d in decisions if d.aggregate_id == row.aggregate_id]
        replayed = {d.boot_id: replay_decision(d, row.provenance) for d in mine}
        events = app.events.get(loop_aggregate_id(row.loop_id))
        stories[row.aggregate_id] = [
            e
            for e in loop_story(events, hosts, replayed, {})
            if e.boot_id is None or e.boot_id in boots
        ]
    moments = [e.at for story in stories.values() for e in story]
    scale = _Scale(moments)
    boot_lines = [
        {"x": scale.x(b.started_at), "label": short_id(b.boot_id)} for b in boots.values()
    ]
    views = [
        _loop_view(
            row,
            stories[row.aggregate_id],
            [d for d in decisions if d.aggregate_id == row.aggregate_id],
            [f for f in findings if f.loop_id == row.loop_id],
            hosts,
            scale,
        )
        for row in loops
    ]
    return {
        "ledger": app.location.describe(),
        "range_from": human_time(min(moments)) if moments else None,
        "range_to": human_time(max(moments)) if moments else None,
        "hosts": [{"id": h, "name": n} for h, n in sorted(hosts.items(), key=lambda i: i[1])],
        "filters": filters_given(ctx.args),
        "verify": _verify(app),
        "event_count": store.position(),
        "generated_at": human_time(datetime.now(UTC)),
        "version": __version__,
        "findings": [
            {
                "kind": f.kind,
                "loop_id": f.loop_id,
                "anchor": _anchor(f.loop_id),
                "boot": short_id(f.boot_id),
                "at": human_time(f.at),
                "detail": f.detail,
            }
            for f in findings
        ],
        "boots": [_boot_view(b) for b in boots.values()],
        "loops": views,
        "legend": [
            ("registered", "registered"),
            ("token", "token"),
            ("observed", "observed"),
            ("heartbeat", "heartbeat"),
            ("reattached", "reattached"),
            ("finalized", "finalized"),
        ],
        "svg": {
            "width": _WIDTH,
            "height": _HEIGHT,
            "left": _LEFT,
            "right": _RIGHT,
            "mid": 28,
            "boots": boot_lines,
        },
    }


def render(context: dict[str, Any]) -> str:
    import jinja2

    from recovery_ledger.infra.cli.report_template import TEMPLATE

    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return environment.from_string(TEMPLATE).render(**context)


def _write_atomically(target: Path, text: str) -> None:
    """Readers never see half a report; the file is the owner's alone (it names hosts)."""
    import os
    import tempfile

    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".report-", suffix=".html")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def cmd_report(ctx: CommandContext) -> int:
    target = Path(ctx.args.html).expanduser()
    if target.is_dir():
        raise BadInputError(f"--html {target} is a directory; name a file")
    if not target.parent.is_dir():
        raise BadInputError(f"--html: directory {target.parent} does not exist")
    app = ctx.open()
    from recovery_ledger.infra.projection_store.store import caught_up

    store = caught_up(app)
    wanted = read_filter(ctx.args, store.boots(), store.loops(), app)
    context = build_context(ctx, app, wanted)
    if not context["loops"]:
        say_nothing_matches("loops", ctx.args)
    page = render(context)
    try:
        _write_atomically(target, page)
    except OSError as error:
        raise LedgerUnreadableError(f"cannot write {target}: {error.strerror}") from None
    if ctx.json:
        from recovery_ledger.infra.cli.output import emit_json

        emit_json(
            {
                "schema_version": 1,
                "html": str(target.absolute()),
                "loops": len(context["loops"]),
                "findings": len(context["findings"]),
                "verified": context["verify"]["ok"],
            }
        )
    else:
        print(
            f"report written to {target} ({len(context['loops'])} loops, "
            f"{len(context['findings'])} findings)"
        )
    return 0
