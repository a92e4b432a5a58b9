"""``verify``, ``export`` and ``import``."""

from __future__ import annotations

import sys
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.exit_codes import UNREADABLE
from recovery_ledger.infra.cli.output import emit_json, terminal_safe
from recovery_ledger.infra.errors import BadInputError


def cmd_verify(ctx: CommandContext) -> int:
    from recovery_ledger.infra.integrity.signing import parse_public_key
    from recovery_ledger.infra.integrity.verify import verify_ledger

    trusted = [parse_public_key(text) for text in ctx.args.trust_key]
    app = ctx.open(check_witness=False)  # verify reports a cut-back ledger itself
    report = verify_ledger(app, trusted)
    installations = _fleet_installations(app, report)
    if ctx.json:
        emit_json(
            {
                "schema_version": 1,
                "ok": report.ok,
                "events": report.events,
                "checkpoints_checked": report.checkpoints_checked,
                "checkpoints_foreign": report.checkpoints_foreign,
                "problems": report.problems,
                "more_problems": report.truncated_report,
                **({} if installations is None else {"installations": installations}),
            }
        )
    elif report.ok:
        print(
            f"ledger verified: {report.events} events, hash chain intact, "
            f"{report.checkpoints_checked} signed checkpoints match"
            + (
                f" ({report.checkpoints_foreign} signed by other installations, not checked)"
                if report.checkpoints_foreign
                else ""
            )
        )
        for one in installations or ():
            print(
                f"  installation {terminal_safe(one['host'])}: {one['events']} events, "
                f"{one['heads_checked']} of its signed heads match"
            )
    else:
        for problem in report.problems[:10]:
            sys.stderr.write(f"recovery-ledger: verify: {problem['message']}\n")
    if not report.ok:
        if not ctx.json:
            sys.stderr.write(
                f"recovery-ledger: the ledger FAILS verification "
                f"({len(report.problems)} problems)\n"
            )
        return UNREADABLE
    return 0


def _fleet_installations(app: Any, report: Any) -> list[dict[str, Any]] | None:
    """On a collector's ledger, each installation's history on its own (docs/fleet.md)."""
    if not app.location.is_postgres:
        return None
    from recovery_ledger.infra.fleet.schema import has_fleet_tables

    if not has_fleet_tables(app):
        return None
    from recovery_ledger.infra.fleet.fleet_verify import verify_installations

    return verify_installations(app, report)


def cmd_export(ctx: CommandContext) -> int:
    from recovery_ledger.domain.loop import loop_aggregate_id
    from recovery_ledger.infra.integrity.transfer import export_lines

    app = ctx.open()
    aggregate = None
    if ctx.args.loop is not None:
        app.get_loop(ctx.args.loop)  # unknown loop: exit 2
        aggregate = loop_aggregate_id(ctx.args.loop)
    out = sys.stdout
    for line in export_lines(app, aggregate):
        out.write(line + "\n")
    out.flush()
    return 0


def cmd_import(ctx: CommandContext) -> int:
    from recovery_ledger.infra.integrity.importer import check_export, import_checked

    try:
        handle = open(ctx.args.file, "rb")  # noqa: SIM115 - closed below
    except OSError as error:
        raise BadInputError(f"cannot read {ctx.args.file}: {error.strerror}") from None
    with handle:
        try:
            checked = check_export(handle)  # the whole file, before any ledger is opened
        except UnicodeDecodeError:
            raise BadInputError(f"{ctx.args.file} is not UTF-8 JSON Lines") from None
        with checked:
            app = ctx.open_for_writing(create=True)
            written, skipped = import_checked(app, checked)
    if ctx.json:
        emit_json({"schema_version": 1, "imported": written, "already_present": skipped})
    else:
        print(f"imported {written} events ({skipped} already present)")
    return 0
