"""``recovery-ledger cloud serve``: the reference cloud on loopback, until interrupted.

It prints its base URL on the first line of stdout once listening, so a script
can read it (``--port 0`` picks a free port).
"""

from __future__ import annotations

import contextlib
import sys
import threading

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.errors import BadInputError


def cmd_cloud_serve(ctx: CommandContext) -> int:
    from recovery_ledger.infra.cloud.url_policy import is_loopback_host
    from recovery_ledger.infra.refcloud import ReferenceCloud

    if not is_loopback_host(ctx.args.host):
        raise BadInputError("the reference cloud serves loopback only (127.0.0.1, ::1, localhost)")
    if not 0 <= ctx.args.port <= 65535:
        raise BadInputError("--port must be between 0 and 65535")
    with ReferenceCloud(host=ctx.args.host, port=ctx.args.port) as cloud:
        sys.stdout.write(cloud.url + "\n")
        sys.stdout.flush()
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how it is meant to stop
            threading.Event().wait()
    return 0
