"""``collector serve``, ``collector enroll`` and ``ship`` (docs/contract.md section 8)."""

from __future__ import annotations

import sys

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.cli.output import emit_json, terminal_safe
from recovery_ledger.infra.errors import BadInputError, LedgerUnreadableError, MissingExtraError


def _collector_ledger(ctx: CommandContext):  # type: ignore[no-untyped-def]
    """The collector's ledger, for writing: both commands write to it (enrollments; every
    upload with the collector's own signed head), so the write guard runs first (exit 4
    with nothing written when the key directory is not this ledger's own or the ledger was
    cut back behind its witness)."""
    if not ctx.location.is_postgres:
        raise BadInputError("the collector's ledger is PostgreSQL: --ledger postgresql://...")
    from recovery_ledger.infra.fleet.schema import ensure_fleet_tables

    app = ctx.open_for_writing(create=True)
    ensure_fleet_tables(app)
    return app


def cmd_collector_serve(ctx: CommandContext) -> int:
    try:
        from recovery_ledger.infra.fleet.server import serve
        from recovery_ledger.infra.fleet.web import create_app
    except ImportError as error:
        raise MissingExtraError(
            f"the collector is not installed ({error.name} is missing): "
            "pip install 'recovery-ledger[collector]'"
        ) from None
    from recovery_ledger.infra.fleet.intake import Intake

    app = _collector_ledger(ctx)
    serve(create_app(Intake(app)), ctx.args.listen, ctx.args.tls_cert, ctx.args.tls_key)
    return 0


def cmd_collector_enroll(ctx: CommandContext) -> int:
    from recovery_ledger.infra.fleet.enrollment import check_enrollment, enroll

    check_enrollment(ctx.args.thumbprint, ctx.args.name)
    new = enroll(_collector_ledger(ctx), ctx.args.thumbprint, ctx.args.name)
    if ctx.json:
        emit_json(
            {
                "schema_version": 1,  # docs/schemas/collector-enroll.schema.json
                "thumbprint": ctx.args.thumbprint,
                "name": ctx.args.name,
                "enrolled": new,
            }
        )
    else:
        state = "enrolled" if new else "already enrolled"
        print(f"{state}: {ctx.args.thumbprint} as {terminal_safe(ctx.args.name)}")
    return 0


def cmd_collector_readmit(ctx: CommandContext) -> int:
    from recovery_ledger.infra.fleet.enrollment import check_thumbprint
    from recovery_ledger.infra.fleet.readmission import readmit

    check_thumbprint(ctx.args.thumbprint)
    done = readmit(_collector_ledger(ctx), ctx.args.thumbprint, ctx.args.reason, ctx.args.by)
    if ctx.json:
        emit_json(
            {
                "schema_version": 1,  # docs/schemas/collector-readmit.schema.json
                "thumbprint": ctx.args.thumbprint,
                "name": done.host_name,
                "readmission": done.readmission,
                "acknowledged": done.acked_count,
                "readmitted": done.new,
            }
        )
    else:
        state = "readmitted" if done.new else "already readmitted"
        print(
            f"{state}: {terminal_safe(done.host_name)} ({ctx.args.thumbprint}); its next ship "
            f"resumes its history where it last agrees with the {done.acked_count} events "
            "acknowledged"
        )
    return 0


def cmd_ship(ctx: CommandContext) -> int:
    from recovery_ledger.infra.cloud.url_policy import (
        BadCloudUrl,
        InsecureCloudUrl,
        check_cloud_url,
    )

    args = ctx.args
    try:
        base_url = check_cloud_url(args.to)
    except (BadCloudUrl, InsecureCloudUrl) as error:
        raise BadInputError(str(error).replace("cloud URL", "collector URL")) from None
    if not args.deadline > 0:
        raise BadInputError("--deadline must be a positive number of seconds")
    if args.batch < 1:
        raise BadInputError("--batch must be at least 1")
    from recovery_ledger.infra.fleet.client import CollectorClient
    from recovery_ledger.infra.fleet.local_ledger import LocalLedger
    from recovery_ledger.infra.fleet.shipper import LocalLedgerChanged, ship

    local = LocalLedger(ctx.open())
    key = local.signing_key()
    local.verify()
    client = CollectorClient(base_url, key, args.deadline, args.ca_file)
    try:
        result = ship(local, client, args.batch)
    except LocalLedgerChanged as error:
        raise LedgerUnreadableError(f"the local ledger changed under ship: {error}") from None
    finally:
        client.close()
    if ctx.json:
        emit_json(
            {
                "schema_version": 1,  # docs/schemas/ship.schema.json
                "shipped": result.shipped,
                "position": result.position,
            }
        )
    else:
        sys.stdout.write(
            f"shipped {result.shipped} events; the collector holds this ledger "
            f"up to position {result.position}\n"
        )
    return 0
