"""``help [exit-codes | environment | COMMAND]`` and ``completion bash|zsh``."""

from __future__ import annotations

import argparse
import sys

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.errors import BadInputError

# docs/contract.md section 5, version 2.
EXIT_CODES = (
    (0, "done"),
    (1, "a bug: anything unexpected (set RECOVERY_LEDGER_DEBUG=1 for the traceback)"),
    (2, "bad usage or bad input; nothing written"),
    (3, "the ledger is held by another boot; nothing written"),
    (
        4,
        "the ledger or its key directory cannot be read, is not this installation's, or fails "
        "verification; a fault of the environment (disk full, read-only file, dropped database "
        "connection); nothing written",
    ),
    (5, "replay: a re-derived or what-if decision differs from the recorded one"),
    (6, "ship: the collector refused an upload"),
    (7, "ship: the collector could not be reached or did not answer in time; nothing lost"),
    (130, "ended by SIGINT (Ctrl-C); everything recorded so far is kept"),
    (143, "ended by SIGTERM; everything recorded so far is kept"),
)

ENVIRONMENT = (
    (
        "RECOVERY_LEDGER_DB",
        "the ledger, as --ledger: a SQLite path or a postgresql:// DSN (default: ledger.sqlite "
        "in the platform's user data directory)",
    ),
    (
        "RECOVERY_LEDGER_KEYS",
        "the key directory, as --keys (default: LEDGER.keys next to a SQLite ledger)",
    ),
    ("RECOVERY_LEDGER_CLOUD_URL", "the cloud's base URL, as boot --cloud"),
    (
        "RECOVERY_LEDGER_POP_KEY",
        "the managed key (EC P-256 PKCS#8 PEM), as boot/key show --pop-key "
        "(default: managed_key.pem in the user's config directory, "
        "e.g. ~/.config/recovery-ledger/)",
    ),
    (
        "RECOVERY_LEDGER_HOST_ID",
        "this installation's host id (default: the one kept in the key directory)",
    ),
    (
        "RECOVERY_LEDGER_DEBUG",
        "set to anything to get the full traceback of an unexpected error (exit 1) on stderr",
    ),
    (
        "RECOVERY_LEDGER_CRASH_AT",
        "testing only (the crash campaign): boot dies as kill -9 would (exit 137) right after "
        "the named transaction: started, decided, begun, posted, concluded or completed",
    ),
    ("NO_COLOR", "set to anything to turn colour off in tables (https://no-color.org)"),
    ("COLUMNS", "the width tables fit on a terminal (default: the terminal's own)"),
)


def _page(title: str, rows: tuple[tuple[object, str], ...]) -> str:
    width = max(len(str(key)) for key, _ in rows)
    lines = [title, ""]
    lines += [f"  {str(key).ljust(width)}  {text}" for key, text in rows]
    return "\n".join(lines) + "\n"


def cmd_help(ctx: CommandContext) -> int:
    from recovery_ledger.infra.cli.help_text import subcommands
    from recovery_ledger.infra.cli.parser import build_parser

    topic = list(ctx.args.topic)
    if topic == ["exit-codes"]:
        sys.stdout.write(_page("Exit codes of recovery-ledger:", EXIT_CODES))
        return 0
    if topic == ["environment"]:
        sys.stdout.write(_page("Environment variables recovery-ledger reads:", ENVIRONMENT))
        return 0
    parser: argparse.ArgumentParser = build_parser()
    for word in topic:
        children = subcommands(parser)
        if word not in children:
            raise BadInputError(
                f"help: no topic {word!r} (try exit-codes, environment, or a command)"
            )
        parser = children[word]
    sys.stdout.write(parser.format_help())
    if not topic:
        sys.stdout.write("\nMore: recovery-ledger help exit-codes | help environment\n")
    return 0


def completion_script(shell: str) -> str:
    import shtab

    from recovery_ledger.infra.cli.parser import build_parser

    script: str = shtab.complete(build_parser(), shell=shell)
    return script


def cmd_completion(ctx: CommandContext) -> int:
    sys.stdout.write(completion_script(ctx.args.shell))
    return 0
