"""``recovery-ledger boot``: options -> ``Ledger.boot`` (``infra/bootstrap.py``) -> the report.

The bootstrap refuses bad options and an insecure cloud URL before the lock is taken and
before a single token leaves the process; the report is printed only after the whole boot
is committed to the ledger.
"""

from __future__ import annotations

import sys

from recovery_ledger.infra.cli.context import CommandContext


def cmd_boot(ctx: CommandContext) -> int:
    from recovery_ledger.infra.boot.wiring import TerminalProgress
    from recovery_ledger.infra.bootstrap import BootOptions

    args = ctx.args
    options = BootOptions(
        cloud_url=args.cloud,
        pop_key=args.pop_key,
        policy=args.policy,
        concurrency=args.concurrency,
        connect_timeout_s=args.connect_timeout,
        read_timeout_s=args.read_timeout,
        deadline_s=args.deadline,
    )
    progress = TerminalProgress()
    try:
        result = ctx.ledger.boot(options, progress=progress)
    finally:
        progress.finish()

    from recovery_ledger.infra.boot.report import boot_document, boot_lines, boot_warnings
    from recovery_ledger.infra.cli.output import terminal_safe

    warnings = boot_warnings(result)
    for warning in warnings:
        sys.stderr.write(f"recovery-ledger: warning: {terminal_safe(warning)}\n")
    if ctx.json:
        from recovery_ledger.infra.cli.output import emit_json

        emit_json(boot_document(result, warnings))
    else:
        print("\n".join(terminal_safe(line) for line in boot_lines(result)))
    return 0
