"""``key adopt --i-lost-my-keys``: the one way a ledger changes installation.

A ledger refuses every write from a key directory that is not its own (exit 4). When the
own one is lost for good, this command records the takeover as an event, signed by a new
key in a new, empty key directory, and gives that directory the lost one's host id, so the
next boot examines the same loops again. Their tokens were sealed under the lost keys: the
host records fresh ones with ``loop token`` (or ends the loops with ``loop finalize``).
"""

from __future__ import annotations

import os

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json
from recovery_ledger.infra.errors import BadInputError


def cmd_key_adopt(ctx: CommandContext) -> int:
    from recovery_ledger.infra.boot.host import adopt_host_id, host_name
    from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner
    from recovery_ledger.infra.integrity.checkpoints import recorded_checkpoints

    if ctx.keys_dir.exists() and os.listdir(ctx.keys_dir):
        raise BadInputError(
            f"key adopt needs a new, empty key directory; {ctx.keys_dir} is not empty"
        )
    app = ctx.open()
    loops = app.loops()
    signed = recorded_checkpoints(app)
    if not signed and not loops:
        raise BadInputError("the ledger holds nothing to adopt; just use it")
    host = _host_id(ctx.args.host_id, {loop.host_id for loop in loops})
    adopt_host_id(ctx.keys_dir, host)
    key_id = CheckpointSigner(ctx.keys).create()
    replaced = sorted({c.key_id for c in signed} - {key_id})
    events_before = max((c.event_count for c in signed), default=0)
    app.record_key_adoption(key_id, replaced, host, host_name(), events_before)
    open_loops = [loop.loop_id for loop in loops if loop.host_id == host and not loop.is_finalized]
    if ctx.json:
        emit_json(
            {
                "schema_version": 1,
                "key_id": key_id,
                "host_id": host,
                "replaced_key_ids": replaced,
                "open_loops_needing_a_token": open_loops,
            }
        )
    else:
        print(
            f"recorded: key directory {ctx.keys_dir} (key {key_id}) took over this ledger "
            f"as host {host}; {len(open_loops)} open loops need a fresh token "
            "(`loop token`) or `loop finalize`"
        )
    return 0


def _host_id(option: str | None, known: set[str]) -> str:
    if option is not None:
        if not option.strip() or not option.isprintable():
            raise BadInputError("--host-id must be printable and not empty")
        return option
    if len(known) == 1:
        return known.pop()
    if not known:
        import uuid

        return str(uuid.uuid4())
    raise BadInputError(
        "the ledger holds loops of several hosts; name the lost one with --host-id "
        f"({', '.join(sorted(known))})"
    )
