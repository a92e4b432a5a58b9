"""``loop register|token|finalize``, ``token get`` and ``loops``."""

from __future__ import annotations

from typing import Any

from recovery_ledger.domain.loop import Loop
from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, emit_table, iso
from recovery_ledger.infra.cli.stdin_token import read_token_from_stdin
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.projections.rows import LoopRow


def _token_view(loop: Loop) -> dict[str, Any] | None:
    if loop.token is None:
        return None
    return {
        "jti": loop.token.jti,
        "expires_at": iso(loop.token.expires_at),
        "source": loop.token.source,
    }


def loop_view(loop: Loop) -> dict[str, Any]:
    return {
        "loop_id": loop.loop_id,
        "provenance": loop.provenance,
        "pid": loop.pid,
        "host_id": loop.host_id,
        "state": "finalized" if loop.is_finalized else "open",
        "finalize_reason": loop.finalize_reason,
        "token": _token_view(loop),
        "registered_at": iso(loop.created_on),
        "updated_at": iso(loop.modified_on),
    }


def _parse_pid(text: str) -> int:
    try:
        pid = int(text, 10)
    except ValueError:
        raise BadInputError(f"--pid must be a positive integer, not {text!r}") from None
    if pid <= 0:
        raise BadInputError(f"--pid must be a positive integer, not {text!r}")
    return pid


def cmd_loop_register(ctx: CommandContext) -> int:
    from recovery_ledger.domain.observations import provenance_of
    from recovery_ledger.domain.runner_token import parse_runner_token
    from recovery_ledger.infra.boot.host import host_id
    from recovery_ledger.infra.boot.liveness import process_start_time

    args = ctx.args
    loop_id = _loop_id(args.loop)
    provenance_of(args.provenance)  # bad input is refused before a ledger is created
    pid = _parse_pid(args.pid)
    token = read_token_from_stdin()
    parse_runner_token(token)
    try:
        start_time = process_start_time(pid)
    except Exception:
        raise BadInputError(f"no running process with pid {pid}") from None
    app = ctx.open(create=True)
    loop = app.register_loop(
        loop_id=loop_id,
        provenance=args.provenance,
        pid=pid,
        pid_start_time=start_time,
        host_id=host_id(ctx.keys_dir),
        token=token,
    )
    _report(ctx, loop, f"registered loop {loop.loop_id} (pid {pid})")
    return 0


def cmd_loop_token(ctx: CommandContext) -> int:
    token = read_token_from_stdin()
    app = ctx.open()
    loop = app.record_token(_loop_id(ctx.args.loop), token)
    _report(ctx, loop, f"recorded a new token for loop {loop.loop_id}")
    return 0


def cmd_loop_finalize(ctx: CommandContext) -> int:
    app = ctx.open()
    loop = app.finalize_loop(_loop_id(ctx.args.loop), ctx.args.reason)
    _report(ctx, loop, f"finalized loop {loop.loop_id} ({loop.finalize_reason})")
    return 0


def cmd_token_get(ctx: CommandContext) -> int:
    import sys

    app = ctx.open()
    token = app.current_token(_loop_id(ctx.args.loop))
    if ctx.json:
        emit_json({"loop_id": ctx.args.loop, "token": token})
    else:
        sys.stdout.write(token + "\n")
    return 0


def loop_row_view(row: LoopRow) -> dict[str, Any]:
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
        "token": token,
        "revivals": row.revivals,
        "token_cleared": row.token_cleared,
        "registered_at": iso(row.registered_at),
        "updated_at": iso(row.updated_at),
    }


def cmd_loops(ctx: CommandContext) -> int:
    """Current state of every loop, from the loop-state projection (caught up first)."""
    from recovery_ledger.infra.projection_store.store import caught_up

    views = [loop_row_view(row) for row in caught_up(ctx.open()).loops()]
    if ctx.json:
        emit_json({"loops": views})
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
                (v["token"] or {}).get("expires_at"),
                v["revivals"],
            ]
            for v in views
        ],
    )
    return 0


def _loop_id(text: str) -> str:
    if not text or not text.strip() or len(text) > 256 or not text.isprintable():
        raise BadInputError("--loop must be a printable loop id of at most 256 characters")
    return text


def _report(ctx: CommandContext, loop: Loop, message: str) -> None:
    if ctx.json:
        emit_json(loop_view(loop))
    else:
        print(message)
