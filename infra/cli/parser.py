"""The command line of docs/contract.md section 5. Options go after the subcommand, in any order.

Each subcommand names its handler as "module:function"; the module is imported
only when that subcommand runs, so ``boot`` never pays for ``audit``'s imports.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from typing import NoReturn

from recovery_ledger.infra.errors import BadInputError

POLICY_CHOICES = ("v1-legacy", "v2-pop-unguarded", "v3-pop-guarded", "v4-key-guarded")


class OneLineParser(argparse.ArgumentParser):
    """argparse prints usage and exits 2; we want one clear line and our own exit path."""

    def error(self, message: str) -> NoReturn:
        from recovery_ledger.infra.cli.help_text import clearer

        raise BadInputError(clearer(self.prog, message))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ledger",
        metavar="PATH_OR_DSN",
        help="SQLite path or postgresql:// DSN (env RECOVERY_LEDGER_DB; default: "
        "ledger.sqlite in the platform's user data directory)",
    )
    parser.add_argument(
        "--keys",
        metavar="DIR",
        help="key directory (env RECOVERY_LEDGER_KEYS; default: next to the ledger)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="one JSON document on stdout, as docs/schemas/ describes (default: text for people)",
    )


_FILTER_HELP = {
    "loop": ("ID", "only this loop (default: every loop)"),
    "boot": ("ID", "only this boot: its id or a unique prefix of 6+ characters (default: all)"),
    "host": ("NAME_OR_ID", "only this host, by name or id (default: every host)"),
    "since": ("T", "from this date or RFC 3339 time on, inclusive (default: the beginning)"),
    "until": ("T", "before this date or RFC 3339 time, exclusive (default: now)"),
}


def _read_filters(parser: argparse.ArgumentParser, *names: str) -> None:
    """The read commands' shared filters (docs/contract.md section 5, read commands)."""
    for name in names:
        metavar, help_text = _FILTER_HELP[name]
        parser.add_argument(f"--{name}", metavar=metavar, help=help_text)


def _wide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--wide",
        action="store_true",
        help="show every column in full on a terminal (default: fit the terminal's width)",
    )


def _sub(
    subparsers: argparse._SubParsersAction[OneLineParser], name: str, handler: str, help_text: str
) -> OneLineParser:
    parser: OneLineParser = subparsers.add_parser(name, help=help_text, description=help_text)
    _common(parser)
    parser.set_defaults(handler=handler)
    return parser


# Options whose value is 32 bytes in base64url (43 characters): an RFC 7638 thumbprint, or an
# Ed25519 JWK's ``x``. One in 64 begins with '-', which argparse takes for an option
# ("expected one argument").
_BASE64URL_32_OPTIONS = ("--thumbprint", "--trust-key")
_BASE64URL_32 = re.compile(r"-[A-Za-z0-9_-]{42}")


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """``--thumbprint -AbC…`` as ``--thumbprint=-AbC…`` (``--trust-key`` alike), which
    argparse reads as a value; only a value of that shape is joined, so a missing value is
    still reported."""
    joined: list[str] = []
    arguments = iter(argv)
    for argument in arguments:
        if argument == "--":
            joined.append(argument)
            joined.extend(arguments)
            break
        if argument in _BASE64URL_32_OPTIONS:
            value = next(arguments, None)
            if value is not None and _BASE64URL_32.fullmatch(value):
                joined.append(f"{argument}={value}")
                continue
            joined.append(argument)
            if value is not None:
                joined.append(value)
            continue
        joined.append(argument)
    return joined


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
    p.add_argument("--loop", required=True, metavar="ID", help="the loop id from the cloud")
    p.add_argument("--pid", required=True, metavar="PID", help="the runner process's pid")
    p.add_argument(
        "--provenance", required=True, metavar="P", help="desktop_managed or user_created"
    )
    p = _sub(
        loop_commands,
        "token",
        "recovery_ledger.infra.cli.loop_commands:cmd_loop_token",
        "record a token the host obtained while running; token on stdin",
    )
    p.add_argument("--loop", required=True, metavar="ID", help="the loop id")
    p = _sub(
        loop_commands,
        "finalize",
        "recovery_ledger.infra.cli.loop_commands:cmd_loop_finalize",
        "record that the host ended the loop itself",
    )
    p.add_argument("--loop", required=True, metavar="ID", help="the loop id")
    p.add_argument(
        "--reason", required=True, metavar="TEXT", help="why the host ended it, recorded as given"
    )

    p = _sub(
        commands,
        "boot",
        "recovery_ledger.infra.cli.boot_command:cmd_boot",
        "decide, for every open loop, to reattach, revive or finalize",
    )
    p.add_argument(
        "--cloud",
        metavar="URL",
        help="cloud base URL (env RECOVERY_LEDGER_CLOUD_URL; default: none, required "
        "when loops are open)",
    )
    p.add_argument(
        "--pop-key",
        metavar="PATH",
        help="managed key, EC P-256 PKCS#8 PEM (env RECOVERY_LEDGER_POP_KEY; default: "
        "managed_key.pem in the user's config directory, e.g. ~/.config/recovery-ledger/)",
    )
    p.add_argument(
        "--policy",
        metavar="NAME",
        default="v4-key-guarded",
        help=f"one of {', '.join(POLICY_CHOICES)} (default v4-key-guarded)",
    )
    p.add_argument(
        "--concurrency",
        metavar="N",
        type=int,
        default=16,
        help="loops in flight at once (default 16)",
    )
    p.add_argument(
        "--connect-timeout", metavar="S", type=float, default=2.0, help="per request, seconds"
    )
    p.add_argument(
        "--read-timeout", metavar="S", type=float, default=5.0, help="per answer, seconds"
    )
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
    p.add_argument("--loop", required=True, metavar="ID", help="the loop id")

    # -- issue 12: read commands (filters, boots, show, replay, zombies, audit, report) ------
    p = _sub(
        commands,
        "loops",
        "recovery_ledger.infra.cli.loop_commands:cmd_loops",
        "current state of every loop",
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    p.add_argument(
        "--state",
        choices=("open", "finalized"),
        help="only loops in this state (default: both)",
    )
    _wide(p)

    p = _sub(
        commands,
        "boots",
        "recovery_ledger.infra.cli.boots_command:cmd_boots",
        "one line per boot: short id, start, policy, host, completed or interrupted, counts",
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    _wide(p)

    show = commands.add_parser("show", help="one thing's whole story")
    show_commands = show.add_subparsers(
        dest="show_command", required=True, parser_class=OneLineParser
    )
    p = _sub(
        show_commands,
        "loop",
        "recovery_ledger.infra.cli.show_command:cmd_show_loop",
        "a loop's whole life in order: registration, tokens, every boot's observations, "
        "each decision and the rule that fired, a finalize by the host, its findings",
    )
    p.add_argument("loop_id", metavar="ID", help="the loop id, as registered")
    _read_filters(p, "boot", "since", "until")

    p = _sub(
        commands,
        "replay",
        "recovery_ledger.infra.cli.read_commands:cmd_replay",
        "the recorded timeline, each decision re-derived (or what-if under --policy)",
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    p.add_argument(
        "--policy",
        metavar="NAME",
        help="what this policy would have done instead (default: the policy each boot ran)",
    )
    p.add_argument(
        "--only-differences",
        action="store_true",
        help="print only the decisions that differ (default: every decision)",
    )

    p = _sub(
        commands,
        "zombies",
        "recovery_ledger.infra.cli.read_commands:cmd_zombies",
        "suspected incidents (findings)",
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    _wide(p)

    p = _sub(
        commands,
        "audit",
        "recovery_ledger.infra.cli.read_commands:cmd_audit",
        "the audit report over a time range",
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    p.add_argument(
        "--format",
        choices=("table", "json", "csv"),
        default=None,
        help="output format (default: table, or json with --json)",
    )
    p.add_argument(
        "--by",
        choices=("day", "week", "month"),
        help="the same report in time buckets, UTC (default: one report for the range)",
    )

    p = _sub(
        commands,
        "report",
        "recovery_ledger.infra.cli.report_command:cmd_report",
        "write a self-contained HTML incident report",
    )
    p.add_argument(
        "--html", required=True, metavar="FILE", help="where to write the report (required)"
    )
    _read_filters(p, "loop", "boot", "host", "since", "until")
    # -- end issue 12: read commands ----------------------------------------------------------

    p = _sub(
        commands,
        "verify",
        "recovery_ledger.infra.cli.integrity_commands:cmd_verify",
        "check the whole ledger for tampering and gaps",
    )
    p.add_argument(
        "--trust-key",
        action="append",
        default=[],
        metavar="X",
        help="also check heads signed by this installation key (Ed25519 JWK x); repeatable "
        "(default: none)",
    )
    p = _sub(
        commands,
        "export",
        "recovery_ledger.infra.cli.integrity_commands:cmd_export",
        "write events as JSON Lines",
    )
    p.add_argument("--loop", metavar="ID", help="only this loop's events (default: every event)")
    p = _sub(
        commands,
        "import",
        "recovery_ledger.infra.cli.integrity_commands:cmd_import",
        "read events from a JSON Lines export",
    )
    p.add_argument("file", metavar="FILE", help="a JSON Lines file written by export")

    # -- issue 12: key show --------------------------------------------------------------
    key = commands.add_parser("key", help="the public keys a host hands to others")
    key_commands = key.add_subparsers(dest="key_command", required=True, parser_class=OneLineParser)
    p = _sub(
        key_commands,
        "show",
        "recovery_ledger.infra.cli.key_command:cmd_key_show",
        "the managed key's and the ledger key's public JWK and RFC 7638 thumbprint",
    )
    p.add_argument(
        "--pop-key",
        metavar="PATH",
        help="managed key, found as boot finds it (default: env RECOVERY_LEDGER_POP_KEY, "
        "else managed_key.pem in the user's config directory)",
    )
    # -- end issue 12: key show ------------------------------------------------------------
    # -- issue 10: key adopt ----------------------------------------------------------------
    p = _sub(
        key_commands,
        "adopt",
        "recovery_ledger.infra.cli.adopt_command:cmd_key_adopt",
        "record that the ledger's key directory is lost and a new, empty one takes over",
    )
    p.add_argument(
        "--i-lost-my-keys",
        action="store_true",
        required=True,
        help="confirm that the old key directory is gone for good (its tokens are lost)",
    )
    p.add_argument(
        "--host-id",
        metavar="ID",
        help="the host id the lost keys held (default: the one host of the ledger's loops)",
    )
    # -- end issue 10: key adopt ------------------------------------------------------------

    projections = commands.add_parser("projections", help="read models")
    projection_commands = projections.add_subparsers(
        dest="projections_command", required=True, parser_class=OneLineParser
    )
    _sub(
        projection_commands,
        "rebuild",
        "recovery_ledger.infra.cli.read_commands:cmd_projections_rebuild",
        "rebuild every projection from the events beside the live tables, then switch to them",
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
    p.add_argument("--port", type=int, default=0, help="port to listen on (0: any free one)")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")

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
    p.add_argument(
        "--tls-cert",
        metavar="FILE",
        help="serve HTTPS with this certificate (PEM) (default: none, plain http on loopback only)",
    )
    p.add_argument(
        "--tls-key",
        metavar="FILE",
        help="the certificate's private key (PEM) (default: none)",
    )
    p = _sub(
        collector_commands,
        "enroll",
        "recovery_ledger.infra.cli.fleet_commands:cmd_collector_enroll",
        "let the installation with this ledger key thumbprint upload, under a host name",
    )
    p.add_argument("--thumbprint", required=True, metavar="T", help="from `key show`")
    p.add_argument("--name", required=True, metavar="NAME", help="the host name it uploads as")
    p = _sub(
        collector_commands,
        "readmit",
        "recovery_ledger.infra.cli.fleet_commands:cmd_collector_readmit",
        "let an installation refused as rolled back upload again, its history resuming "
        "where its ledger and the collector last agree",
    )
    p.add_argument("--thumbprint", required=True, metavar="T", help="the installation's")
    p.add_argument("--reason", required=True, metavar="TEXT", help="why, for the record")
    p.add_argument(
        "--by", metavar="NAME", help="who lets it back in, for the record (default: your user name)"
    )
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
    p.add_argument(
        "--dir",
        metavar="DIR",
        help="where to leave the demo ledger (default: a new temporary directory)",
    )
    # -- issue 12: help pages, shell completion, examples and defaults everywhere ------------
    p = commands.add_parser(
        "help",
        help="help pages: exit-codes, environment, or any command",
        description="help pages: exit-codes, environment, or any command's --help",
    )
    p.add_argument(
        "topic",
        nargs="*",
        metavar="TOPIC",
        help="exit-codes, environment, or a command such as 'show loop' (default: the overview)",
    )
    p.set_defaults(handler="recovery_ledger.infra.cli.help_command:cmd_help", ledger=None)
    p.set_defaults(keys=None, json=False)
    p = commands.add_parser(
        "completion",
        help="print the shell completion script for bash or zsh",
        description="print the shell completion script for bash or zsh",
    )
    p.add_argument("shell", choices=("bash", "zsh"), help="the shell to complete for")
    p.set_defaults(handler="recovery_ledger.infra.cli.help_command:cmd_completion", ledger=None)
    p.set_defaults(keys=None, json=False)
    from recovery_ledger.infra.cli.help_text import teach

    teach(root)
    # -- end issue 12: help --------------------------------------------------------------------
    return root
