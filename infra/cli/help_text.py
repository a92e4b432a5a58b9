# ruff: noqa: E501 - the examples are command lines, kept whole to be copied
"""Help that teaches: an Examples section for every command, each option's default in its
help text, and "did you mean" for a mistyped command. Applied to the finished parser, so a
command added anywhere in ``parser.py`` gets the same treatment (and the tests name any
command that has no examples yet)."""

from __future__ import annotations

import argparse
import re

PROG = "recovery-ledger"

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": (
        "recovery-ledger boots                       # find the boot an incident is in",
        "recovery-ledger zombies                     # suspected incidents",
        "recovery-ledger show loop live-stale-jwt    # one loop's whole story",
        "recovery-ledger help exit-codes             # what each exit code means",
    ),
    "loop": (
        'echo "$TOKEN" | recovery-ledger loop register --loop L1 --pid 4242 --provenance desktop_managed',
    ),
    "loop register": (
        'echo "$TOKEN" | recovery-ledger loop register --loop L1 --pid 4242 --provenance desktop_managed',
        'echo "$TOKEN" | recovery-ledger loop register --loop L2 --pid 4243 --provenance user_created --json',
    ),
    "loop token": ('echo "$FRESH_TOKEN" | recovery-ledger loop token --loop L1',),
    "loop finalize": ("recovery-ledger loop finalize --loop L1 --reason 'user stopped it'",),
    "boot": (
        "recovery-ledger boot --cloud https://cloud.example --pop-key ~/.config/app/managed_key.pem",
        "recovery-ledger boot --json --deadline 10",
        "recovery-ledger boot --cloud http://127.0.0.1:8080 --policy v1-legacy   # reproduce an incident",
    ),
    "token": ("recovery-ledger token get --loop L1",),
    "token get": (
        "recovery-ledger token get --loop L1",
        "recovery-ledger token get --loop L1 --json",
    ),
    "loops": (
        "recovery-ledger loops",
        "recovery-ledger loops --state open --host laptop",
        "recovery-ledger loops --json | jq '.loops[] | select(.revivals > 0)'",
    ),
    "boots": (
        "recovery-ledger boots",
        "recovery-ledger boots --since 2026-11-24 --host laptop",
        "recovery-ledger boots --loop L1 --wide",
    ),
    "show": ("recovery-ledger show loop L1",),
    "show loop": (
        "recovery-ledger show loop L1",
        "recovery-ledger show loop L1 --boot 3f2a9c",
        "recovery-ledger show loop L1 --json",
    ),
    "replay": (
        "recovery-ledger replay --loop L1",
        "recovery-ledger replay --policy v1-legacy --only-differences",
        "recovery-ledger replay --boot 3f2a9c --json",
    ),
    "zombies": ("recovery-ledger zombies", "recovery-ledger zombies --since 2026-11-24 --json"),
    "audit": (
        "recovery-ledger audit --since 2026-11-01 --until 2026-12-01",
        "recovery-ledger audit --by week --host laptop",
        "recovery-ledger audit --format csv > decisions.csv",
    ),
    "report": (
        "recovery-ledger report --html incident.html",
        "recovery-ledger report --html incident.html --since 2026-11-24T09:00:00Z --loop L1",
    ),
    "verify": ("recovery-ledger verify", "recovery-ledger verify --json"),
    "export": (
        "recovery-ledger export > ledger.jsonl",
        "recovery-ledger export --loop L1 > L1.jsonl",
    ),
    "import": ("recovery-ledger import ledger.jsonl --ledger other.sqlite",),
    "key": ("recovery-ledger key show",),
    "key show": (
        "recovery-ledger key show",
        "recovery-ledger key show --pop-key ~/.config/app/managed_key.pem --json",
    ),
    "key adopt": ("recovery-ledger key adopt --i-lost-my-keys --keys ~/new-keys",),
    "projections": ("recovery-ledger projections rebuild",),
    "projections rebuild": ("recovery-ledger projections rebuild --json",),
    "cloud": ("recovery-ledger cloud serve --port 8080",),
    "cloud serve": ("recovery-ledger cloud serve --port 8080",),
    "demo": ("recovery-ledger demo", "recovery-ledger demo --dir /tmp/rl-demo"),
    "help": ("recovery-ledger help exit-codes", "recovery-ledger help environment"),
    "collector": ("recovery-ledger collector serve --ledger postgresql://collector@db/fleet",),
    "collector serve": (
        "recovery-ledger collector serve --ledger postgresql://collector@db/fleet --listen 127.0.0.1:8765",
        "recovery-ledger collector serve --listen 0.0.0.0:8443 --tls-cert cert.pem --tls-key key.pem",
    ),
    "collector enroll": (
        'recovery-ledger collector enroll --thumbprint "$(recovery-ledger key show --json | jq -r .ledger_key.thumbprint)" --name laptop-7',
    ),
    "collector readmit": (
        'recovery-ledger collector readmit --thumbprint "$T" --reason "restored from the 2026-11-20 backup"',
    ),
    "ship": (
        "recovery-ledger ship --to https://collector.example:8443",
        "recovery-ledger ship --to http://127.0.0.1:8765 --json --deadline 30",
    ),
    "completion": (
        "recovery-ledger completion bash > /etc/bash_completion.d/recovery-ledger",
        'recovery-ledger completion zsh > "${fpath[1]}/_recovery-ledger"',
    ),
}


def _epilog(path: str) -> str | None:
    examples = EXAMPLES.get(path)
    if not examples:
        return None
    return "Examples:\n" + "\n".join(f"  {line}" for line in examples)


def _with_default(action: argparse.Action) -> None:
    """Say each option's default in its help, unless the help already does."""
    if action.help in (None, argparse.SUPPRESS) or "default" in action.help or action.required:
        return
    if not action.option_strings or action.dest in ("help", "version"):
        return
    if isinstance(action, argparse._StoreTrueAction):
        action.help += " (default: off)"
    elif action.default is not None:
        action.help += f" (default: {action.default})"


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def teach(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Examples and defaults for ``parser`` and every command below it."""
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.epilog = _epilog(path)
    for action in parser._actions:
        _with_default(action)
    for name, child in subcommands(parser).items():
        teach(child, f"{path} {name}".strip())


_INVALID_CHOICE = re.compile(r"argument (\S+): invalid choice: '?([^'\s]+)'? \(choose from (.*)\)")


def clearer(prog: str, message: str) -> str:
    """An argparse message as one line: the command it concerns (once; main adds the
    program's name) and, for a mistyped command or choice, the closest one."""
    where = prog.removeprefix(PROG).strip()
    found = _INVALID_CHOICE.search(message)
    if found:
        import difflib

        option, typed = found.group(1), found.group(2)
        choices = [c.strip(" '") for c in found.group(3).split(",")]
        close = difflib.get_close_matches(typed, choices, n=1, cutoff=0.6)
        if option.startswith("-"):
            message = f"{option} must be one of {', '.join(choices)}, not {typed!r}"
        else:
            scope = f"{PROG} {where}".strip()
            message = f"{typed!r} is not a command of {scope}"
            where = ""
        message += f"; did you mean {close[0]!r}?" if close else ""
        if not close and not option.startswith("-"):
            message += f" (choose from {', '.join(choices)})"
    return f"{where}: {message}" if where else message
