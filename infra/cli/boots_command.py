"""``boots``: one line per boot, newest last, so an SRE can find the boot an incident is in."""

from __future__ import annotations

from collections import Counter
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, emit_table, iso
from recovery_ledger.infra.cli.read_filters import filter_from_store, say_nothing_matches
from recovery_ledger.projections.filters import short_id
from recovery_ledger.projections.rows import BootRow

SCHEMA_VERSION = 1


def boot_state(boot: BootRow) -> str:
    return "completed" if boot.completed_at is not None else "interrupted"


def boot_row_view(boot: BootRow, findings: int) -> dict[str, Any]:
    return {
        "boot_id": boot.boot_id,
        "short_id": short_id(boot.boot_id),
        "started_at": iso(boot.started_at),
        "completed_at": iso(boot.completed_at),
        "state": boot_state(boot),
        "policy": boot.policy,
        "host_id": boot.host_id,
        "host_name": boot.host_name,
        "app_version": boot.app_version,
        "cloud_url": boot.cloud_url,
        "loops_planned": boot.loops_planned,
        "examined": boot.examined,
        "reattached": boot.reattached,
        "revived": boot.revived,
        "finalized": boot.finalized,
        "heartbeats_posted": boot.heartbeats_posted,
        "findings": findings,
    }


def cmd_boots(ctx: CommandContext) -> int:
    from recovery_ledger.infra.projection_store.store import caught_up

    store = caught_up(ctx.open())
    wanted = filter_from_store(ctx.args, store)
    boots = [b for b in store.boots() if wanted.admits_boot(b)]
    if wanted.loop is not None:
        examined = {d.boot_id for d in store.decisions("loop_id = ?", (wanted.loop,))}
        boots = [b for b in boots if b.boot_id in examined]
    findings = Counter(f.boot_id for f in store.findings())
    views = [boot_row_view(b, findings[b.boot_id]) for b in boots]
    if not views:
        say_nothing_matches("boots", ctx.args)
    if ctx.json:
        emit_json({"schema_version": SCHEMA_VERSION, "boots": views})
        return 0
    headers = ["boot", "started", "policy", "host", "state", "loops", "kept", "revived"]
    headers += ["finalized", "hb", "findings"]
    emit_table(
        headers,
        [
            [
                v["short_id"],
                b.started_at,
                v["policy"],
                v["host_name"],
                v["state"],
                v["examined"],
                v["reattached"],
                v["revived"],
                v["finalized"],
                v["heartbeats_posted"],
                v["findings"],
            ]
            for b, v in zip(boots, views, strict=True)
        ],
        [
            "finding" if v["findings"] else "note" if v["state"] != "completed" else None
            for b, v in zip(boots, views, strict=True)
        ],
        wide=ctx.args.wide,
    )
    return 0
