"""``recovery-ledger boot``: validate everything, take the lock, run, then print.

Bad options and an insecure cloud URL are refused before the lock is taken and
before a single token leaves the process; the report is printed only after the
whole boot is committed to the ledger.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import TYPE_CHECKING

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.errors import BadInputError

if TYPE_CHECKING:  # imported by the boot itself, after the options are checked
    from recovery_ledger.domain.loop import Loop
    from recovery_ledger.infra.boot.ports import Cloud, PopKey
    from recovery_ledger.infra.boot.service import BootResult, BootService
    from recovery_ledger.infra.store.app import LedgerApp


def _cloud_url(option: str | None) -> str | None:
    from recovery_ledger.infra.cloud.url_policy import (
        BadCloudUrl,
        InsecureCloudUrl,
        check_cloud_url,
    )

    value = option or os.environ.get("RECOVERY_LEDGER_CLOUD_URL")
    if not value:
        return None
    try:
        return check_cloud_url(value)
    except (BadCloudUrl, InsecureCloudUrl) as error:
        raise BadInputError(str(error)) from None


def _check_numbers(args: object) -> None:
    if getattr(args, "concurrency", 1) < 1:
        raise BadInputError("--concurrency must be at least 1")
    for name in ("connect_timeout", "read_timeout", "deadline"):
        if not getattr(args, name) > 0:
            raise BadInputError(f"--{name.replace('_', '-')} must be positive")


def cmd_boot(ctx: CommandContext) -> int:
    from recovery_ledger.domain.policies import UnknownPolicyError, get_policy

    args = ctx.args
    try:
        get_policy(args.policy)
    except UnknownPolicyError as error:
        raise BadInputError(str(error)) from None
    _check_numbers(args)
    cloud_url = _cloud_url(args.cloud)

    from recovery_ledger.infra.boot.lock import boot_lock
    from recovery_ledger.infra.boot.wiring import load_pop_key, resolve_pop_key_path

    pop_key = load_pop_key(resolve_pop_key_path(args.pop_key))
    from recovery_ledger.infra.boot.host import host_id

    this_host = host_id(ctx.keys_dir)
    with boot_lock(ctx.location, this_host):
        app = ctx.open(create=True)
        # A fleet ledger holds other hosts' loops too: their pids mean nothing here, and
        # probing them would finalize live loops of another machine as dead.
        app.shred_cleared_keys(this_host)
        open_loops = app.open_loops(this_host)
        result = asyncio.run(_run(ctx, app, open_loops, cloud_url, pop_key))

    from recovery_ledger.infra.boot.report import boot_document, boot_lines, boot_warnings
    from recovery_ledger.infra.cli.output import terminal_safe

    warnings = boot_warnings(result, cloud_url)
    for warning in warnings:
        sys.stderr.write(f"recovery-ledger: warning: {terminal_safe(warning)}\n")
    if ctx.json:
        from recovery_ledger.infra.cli.output import emit_json

        emit_json(boot_document(result, warnings))
    else:
        print("\n".join(terminal_safe(line) for line in boot_lines(result)))
    return 0


async def _run(
    ctx: CommandContext,
    app: LedgerApp,
    open_loops: list[Loop],
    cloud_url: str | None,
    pop_key: PopKey,
) -> BootResult:
    from recovery_ledger.infra.boot.host import host_id, host_name
    from recovery_ledger.infra.boot.service import BootService, BootSettings
    from recovery_ledger.infra.boot.wiring import PsutilProbe, SystemClock, TerminalProgress
    from recovery_ledger.infra.version import __version__

    args = ctx.args
    settings = BootSettings(
        policy=args.policy,
        host_id=host_id(ctx.keys_dir),
        host_name=host_name(),
        app_version=__version__,
        cloud_url=cloud_url or "",
        concurrency=args.concurrency,
        deadline_s=args.deadline,
        request_timeout_s=args.connect_timeout + args.read_timeout,
    )
    progress = TerminalProgress()
    if open_loops and cloud_url is None:
        raise BadInputError("no cloud URL: pass --cloud URL or set RECOVERY_LEDGER_CLOUD_URL")

    def service(cloud: Cloud | None) -> BootService:
        return BootService(
            app,
            settings,
            cloud=cloud,
            probe=PsutilProbe(),
            pop_key=pop_key,
            clock=SystemClock(),
            progress=progress,
            open_loops=open_loops,
        )

    try:
        # Nothing to ask the cloud (open loops without a URL were refused above): no client,
        # no httpx import.
        if not open_loops or cloud_url is None:
            return await service(None).run()
        from recovery_ledger.infra.cloud.client import CloudClient

        async with CloudClient(
            cloud_url,
            connect_timeout=args.connect_timeout,
            read_timeout=args.read_timeout,
        ) as cloud:
            return await service(cloud).run()
    finally:
        progress.finish()
