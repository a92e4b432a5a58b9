"""``loop register|token|finalize``, ``token get`` and ``loops``."""

from __future__ import annotations

from typing import Any

from recovery_ledger.domain.loop import Loop
from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, emit_table, iso, terminal_safe
from recovery_ledger.infra.cli.stdin_token import read_token_from_stdin
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.projections.rows import LoopRow, loop_after

SCHEMA_VERSION = 1


def _parse_pid(text: str) -> int:
    try:
        pid = int(text, 10)
    except ValueError:
        raise BadInputError(f"--pid must be a positive integer, not {text!r}") from None
    if pid <= 0:
        raise BadInputError(f"--pid must be a positive integer, not {text!r}")
    return pid


def cmd_loop_register(ctx: CommandContext) -> int:
    pid = _parse_pid(ctx.args.pid)
    token = read_token_from_stdin()
    args = dict(pid=pid, provenance=ctx.args.provenance, token=token)
    same = ctx.ledger.registered_as(ctx.args.loop, **args)
    if same is not None:  # the host retried: nothing to write
        message = (
            f"loop {same.loop_id} is already registered with this pid and token; nothing written"
        )
        _report(ctx, same, message)
        return 0
    loop = ctx.ledger.register_loop(ctx.args.loop, **args)
    _report(ctx, loop, f"registered loop {loop.loop_id} (pid {pid})")
    return 0


def cmd_loop_token(ctx: CommandContext) -> int:
    loop = ctx.ledger.record_token(ctx.args.loop, read_token_from_stdin())
    _report(ctx, loop, f"recorded a new token for loop {loop.loop_id}")
    return 0


def cmd_loop_finalize(ctx: CommandContext) -> int:
    loop = ctx.ledger.finalize_loop(ctx.args.loop, ctx.args.reason)
    _report(ctx, loop, f"finalized loop {loop.loop_id} ({loop.finalize_reason})")
    return 0


def cmd_token_get(ctx: CommandContext) -> int:
    import sys

    token = ctx.ledger.token(ctx.args.loop)
    if ctx.json:
        emit_json({"schema_version": SCHEMA_VERSION, "loop_id": ctx.args.loop, "token": token})
    else:
        sys.stdout.write(token + "\n")
    return 0


def loop_row_view(row: LoopRow) -> dict[str, Any]:
    """One loop as every command prints it (``loops``, ``loop register|token|finalize``)."""
    token = None
    if row.token_jti is not None:
        token = {
            "jti": row.token_jti,
            "expires_at": iso(row.token_expires_at),
            "source": row.token_source,
        }
    return {
        "loop_id": row.loop_id,
        "provenance": row.provenance,
        "pid": row.pid,
        "host_id": row.host_id,
        "state": row.state,
        "finalize_reason": row.finalize_reason,
        "finalized_by": row.finalized_by,
        "token": token,
        "revivals": row.revivals,
        "token_cleared": row.token_cleared,
        "registered_at": iso(row.registered_at),
        "updated_at": iso(row.updated_at),
    }


def cmd_loops(ctx: CommandContext) -> int:
    """Current state of every loop, from the loop-state projection (caught up first)."""
    from recovery_ledger.infra.cli.read_filters import filter_from_store, say_nothing_matches
    from recovery_ledger.infra.projection_store.store import caught_up

    args = ctx.args
    store = caught_up(ctx.open())
    wanted = filter_from_store(args, store)
    rows = [r for r in store.loops() if wanted.admits_loop(r)]
    if args.state is not None:
        rows = [r for r in rows if r.state == args.state]
    if wanted.boot is not None:
        examined = {d.aggregate_id for d in store.decisions("boot_id = ?", (wanted.boot,))}
        rows = [r for r in rows if r.aggregate_id in examined]
    views = [loop_row_view(row) for row in rows]
    if not views:
        say_nothing_matches("loops", args)
    if ctx.json:
        emit_json({"schema_version": SCHEMA_VERSION, "loops": views})
        return 0
    emit_table(
        ["loop", "provenance", "pid", "state", "reason", "token jti", "expires", "revivals"],
        [
            [
                v["loop_id"],
                v["provenance"],
                v["pid"],
                v["state"],
                v["finalize_reason"],
                (v["token"] or {}).get("jti"),
                r.token_expires_at,
                v["revivals"],
            ]
            for r, v in zip(rows, views, strict=True)
        ],
        wide=args.wide,
    )
    return 0


def _report(ctx: CommandContext, loop: Loop, message: str) -> None:
    """The loop as ``loops --json`` shows it: folded from its own events by the same
    function the projection uses, so the two can never drift apart."""
    if not ctx.json:
        print(terminal_safe(message))  # a loop id and a host's reason are recorded text
        return
    row: LoopRow | None = None
    for event in ctx.open().events.get(loop.id):
        row = loop_after(row, event)
    assert row is not None
    emit_json({"schema_version": SCHEMA_VERSION, **loop_row_view(row)})
