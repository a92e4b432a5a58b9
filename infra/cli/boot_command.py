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
    # The deadline is the whole command's, counted from the process's start (interpreter
    # start-up included), so the boot gets what is left of it.
    bounded = args.deadline > 0  # else BootOptions refuses it (exit 2)
    remaining = args.deadline - _seconds_since_process_start() if bounded else args.deadline
    options = BootOptions(
        cloud_url=args.cloud,
        pop_key=args.pop_key,
        policy=args.policy,
        concurrency=args.concurrency,
        connect_timeout_s=args.connect_timeout,
        read_timeout_s=args.read_timeout,
        deadline_s=max(remaining, min(args.deadline, 0.2)) if bounded else args.deadline,
    )
    progress = TerminalProgress()
    watchdog = _Watchdog(args.deadline, max(remaining, 0.0)) if bounded else None
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
    if watchdog is not None:
        watchdog.cancel()
    return 0


def _seconds_since_process_start() -> float:
    import time

    import psutil

    try:
        return max(0.0, time.time() - psutil.Process().create_time())
    except psutil.Error:  # pragma: no cover - no process table: count from here
        return 0.0


class _Watchdog:
    """``--deadline`` bounds the whole command (contract section 5). The boot cuts its own
    network work off in time; this is for what no timeout reaches (a database that stops
    answering mid-transaction): one line, exit 4, and nothing half-written, since every
    step of a boot is one transaction."""

    GRACE_S = 0.8

    def __init__(self, deadline_s: float, remaining_s: float) -> None:
        import threading

        self.deadline_s = deadline_s
        self._timer = threading.Timer(remaining_s + self.GRACE_S, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def _expire(self) -> None:
        import os

        from recovery_ledger.infra.cli.exit_codes import UNREADABLE

        sys.stderr.write(
            f"recovery-ledger: the boot did not finish within --deadline {self.deadline_s:g}s; "
            "stopped, every step committed so far is kept\n"
        )
        sys.stderr.flush()
        os._exit(UNREADABLE)

    def cancel(self) -> None:
        self._timer.cancel()
