"""The command line of docs/contract.md section 5. Options go after the subcommand, in any order.

Each subcommand names its handler as "module:function"; the module is imported
only when that subcommand runs, so ``boot`` never pays for ``audit``'s imports.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from recovery_ledger.infra.errors import BadInputError

POLICY_CHOICES = ("v1-legacy", "v2-pop-unguarded", "v3-pop-guarded")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage and exits 2; we want one clear line and our own exit path."""

    def error(self, message: str) -> NoReturn:
        raise BadInputError(f"{self.prog}: {message}")


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        metavar="PATH_OR_DSN",
        help="SQLite path or postgresql:// DSN (env RECOVERY_LEDGER_DB)",
    )
    parser.add_argument(
        "--keys",
        metavar="DIR",
        help="key directory (env RECOVERY_LEDGER_KEYS; default: next to the ledger)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")


def _sub(
    subparsers: argparse._SubParsersAction[OneLineParser], name: str, handler: str, help_text: str
) -> OneLineParser:
    parser: OneLineParser = subparsers.add_parser(name, help=help_text, description=help_text)
    _common(parser)
    parser.set_defaults(handler=handler)
    return parser


def build_parser() -> OneLineParser:
    root = OneLineParser(
        prog="recovery-ledger", description="Event-sourced boot recovery ledger for agent loops."
    )
    from recovery_ledger.infra.version import __version__

    root.add_argument("--version", action="version", version=__version__)
    commands = root.add_subparsers(dest="command", required=True, parser_class=OneLineParser)

    loop = commands.add_parser("loop", help="record a loop's life: register, token, finalize")
    loop_commands = loop.add_subparsers(
        dest="loop_command", required=True, parser_class=OneLineParser
    )
    p = _sub(
        loop_commands,
        "register",
        "recovery_ledger.infra.cli.loop_commands:cmd_loop_register",
        "record a new loop; the runner token comes on stdin",
    )
    p.add_argument("--loop", required=True, metavar="ID")
    p.add_argument("--pid", required=True, metavar="PID")
    p.add_argument(
        "--provenance", required=True, metavar="P", help="desktop_managed or user_created"
    )
    p = _sub(
        loop_commands,
        "token",
        "recovery_ledger.infra.cli.loop_commands:cmd_loop_token",
        "record a token the host obtained while running; token on stdin",
    )
    p.add_argument("--loop", required=True, metavar="ID")
    p = _sub(
        loop_commands,
        "finalize",
        "recovery_ledger.infra.cli.loop_commands:cmd_loop_finalize",
        "record that the host ended the loop itself",
    )
    p.add_argument("--loop", required=True, metavar="ID")
    p.add_argument("--reason", required=True, metavar="TEXT")

    p = _sub(
        commands,
        "boot",
        "recovery_ledger.infra.cli.boot_command:cmd_boot",
        "decide, for every open loop, to reattach, revive or finalize",
    )
    p.add_argument("--cloud", metavar="URL", help="cloud base URL (env RECOVERY_LEDGER_CLOUD_URL)")
    p.add_argument(
        "--pop-key",
        metavar="PATH",
        help="managed key, EC P-256 PKCS#8 PEM (env RECOVERY_LEDGER_POP_KEY)",
    )
    p.add_argument(
        "--policy",
        metavar="NAME",
        default="v3-pop-guarded",
        help=f"one of {', '.join(POLICY_CHOICES)} (default v3-pop-guarded)",
    )
    p.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=16,
        help="loops in flight at once (default 16)",
    )
    p.add_argument("--connect-timeout", metavar="S", type=float, default=2.0)
    p.add_argument("--read-timeout", metavar="S", type=float, default=5.0)
    p.add_argument(
        "--deadline",
        metavar="S",
        type=float,
        default=20.0,
        help="overall boot deadline; unanswered loops count as transient",
    )

    token = commands.add_parser("token", help="the loop's current runner token")
    token_commands = token.add_subparsers(
        dest="token_command", required=True, parser_class=OneLineParser
    )
    p = _sub(
        token_commands,
        "get",
        "recovery_ledger.infra.cli.loop_commands:cmd_token_get",
        "print the loop's current runner token (the only command that prints one)",
    )
    p.add_argument("--loop", required=True, metavar="ID")

    _sub(
        commands,
        "loops",
        "recovery_ledger.infra.cli.loop_commands:cmd_loops",
        "current state of every loop",
    )

    p = _sub(
        commands,
        "replay",
        "recovery_ledger.infra.cli.read_commands:cmd_replay",
        "the recorded timeline, each decision re-derived",
    )
    p.add_argument("--loop", metavar="ID")
    p.add_argument("--boot", metavar="ID")
    p.add_argument("--policy", metavar="NAME")

    _sub(
        commands,
        "zombies",
        "recovery_ledger.infra.cli.read_commands:cmd_zombies",
        "suspected incidents",
    )

    p = _sub(
        commands,
        "audit",
        "recovery_ledger.infra.cli.read_commands:cmd_audit",
        "the audit report over a time range",
    )
    p.add_argument("--since", metavar="T")
    p.add_argument("--until", metavar="T")
    p.add_argument("--host", metavar="HOST_ID")
    p.add_argument("--format", choices=("table", "json", "csv"), default=None)

    _sub(
        commands,
        "verify",
        "recovery_ledger.infra.cli.integrity_commands:cmd_verify",
        "check the whole ledger for tampering and gaps",
    )
    p = _sub(
        commands,
        "export",
        "recovery_ledger.infra.cli.integrity_commands:cmd_export",
        "write events as JSON Lines",
    )
    p.add_argument("--loop", metavar="ID")
    p = _sub(
        commands,
        "import",
        "recovery_ledger.infra.cli.integrity_commands:cmd_import",
        "read events from a JSON Lines export",
    )
    p.add_argument("file", metavar="FILE")

    projections = commands.add_parser("projections", help="read models")
    projection_commands = projections.add_subparsers(
        dest="projections_command", required=True, parser_class=OneLineParser
    )
    _sub(
        projection_commands,
        "rebuild",
        "recovery_ledger.infra.cli.read_commands:cmd_projections_rebuild",
        "drop and rebuild every projection from the events",
    )

    cloud = commands.add_parser("cloud", help="the reference cloud")
    cloud_commands = cloud.add_subparsers(
        dest="cloud_command", required=True, parser_class=OneLineParser
    )
    p = _sub(
        cloud_commands,
        "serve",
        "recovery_ledger.infra.cli.cloud_command:cmd_cloud_serve",
        "serve the reference cloud on loopback",
    )
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--host", default="127.0.0.1")

    # -- fleet (docs/contract.md section 8) --------------------------------------------
    collector = commands.add_parser("collector", help="the fleet's collector")
    collector_commands = collector.add_subparsers(
        dest="collector_command", required=True, parser_class=OneLineParser
    )
    p = _sub(
        collector_commands,
        "serve",
        "recovery_ledger.infra.cli.fleet_commands:cmd_collector_serve",
        "run the collector until SIGTERM/SIGINT; prints its URL first",
    )
    p.add_argument(
        "--listen",
        metavar="HOST:PORT",
        default="127.0.0.1:8765",
        help="where to listen (default 127.0.0.1:8765; port 0 picks one); plain http only "
        "on a loopback address",
    )
    p.add_argument("--tls-cert", metavar="FILE", help="serve HTTPS with this certificate (PEM)")
    p.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    p = _sub(
        collector_commands,
        "enroll",
        "recovery_ledger.infra.cli.fleet_commands:cmd_collector_enroll",
        "let the installation with this ledger key thumbprint upload, under a host name",
    )
    p.add_argument("--thumbprint", required=True, metavar="T", help="from `key show`")
    p.add_argument("--name", required=True, metavar="NAME", help="the host name it uploads as")
    p = _sub(
        commands,
        "ship",
        "recovery_ledger.infra.cli.fleet_commands:cmd_ship",
        "send the collector every event it has not acknowledged (run after boot)",
    )
    p.add_argument("--to", required=True, metavar="URL", help="the collector's URL")
    p.add_argument(
        "--deadline",
        metavar="S",
        type=float,
        default=60.0,
        help="give up (exit 7, nothing lost) after S seconds (default 60)",
    )
    p.add_argument(
        "--batch",
        metavar="N",
        type=int,
        default=1000,
        help="events per upload, at most, where the signed checkpoints allow (default 1000)",
    )
    p.add_argument(
        "--ca-file",
        metavar="FILE",
        help="trust this CA bundle for the collector's certificate (default: httpx's)",
    )

    p = _sub(
        commands,
        "demo",
        "recovery_ledger.infra.cli.demo_command:cmd_demo",
        "run a boot against the bundled reference cloud with real runners",
    )
    p.add_argument("--dir", metavar="DIR", help="where to leave the demo ledger")
    return root
