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
    watchdog = _Watchdog(args.deadline)
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
    watchdog.cancel()
    return 0


class _Watchdog:
    """``--deadline`` bounds the whole command (contract section 5). The boot cuts its own
    network work off in time; this is for what no timeout reaches (a database that stops
    answering mid-transaction): one line, exit 4, and nothing half-written, since every
    step of a boot is one transaction."""

    GRACE_S = 0.8

    def __init__(self, deadline_s: float) -> None:
        import threading

        self.deadline_s = deadline_s
        self._timer = threading.Timer(deadline_s + self.GRACE_S, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        import os

        from recovery_ledger.infra.cli.exit_codes import UNREADABLE

        sys.stderr.write(
            f"recovery-ledger: the boot did not finish within --deadline {self.deadline_s:g}s "
            "(the ledger's database stopped answering); stopped, every step committed so far "
            "is kept\n"
        )
        sys.stderr.flush()
        os._exit(UNREADABLE)

    def cancel(self) -> None:
        self._timer.cancel()
