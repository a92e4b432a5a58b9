"""Help that teaches, through the real command line: an Examples section on every
command's --help, every option's help with its default, the exit-code and environment
pages, "did you mean", one "recovery-ledger:" prefix, and shell completion that is current."""

from __future__ import annotations

import argparse
import re
import subprocess

import pytest

from recovery_ledger.infra.cli.help_text import subcommands
from recovery_ledger.infra.cli.parser import build_parser

from ..conftest import REPO, run_cli

pytestmark = pytest.mark.slow


def command_paths(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, ...]]:
    found = [path]
    for name, child in subcommands(parser).items():
        found += command_paths(child, (*path, name))
    return found


COMMANDS = command_paths(build_parser())


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "recovery-ledger")
def test_every_command_help_has_examples(path: tuple[str, ...]) -> None:
    result = run_cli(*path, "--help")
    assert result.code == 0, result.stderr
    examples = result.stdout.split("Examples:\n", 1)
    assert len(examples) == 2, f"no Examples section in `{' '.join(path)} --help`"
    assert all(line.startswith("  ") for line in examples[1].strip("\n").splitlines())
    assert "recovery-ledger" in examples[1]


def test_every_option_has_a_help_text_that_names_its_default() -> None:
    missing = []

    def walk(parser: argparse.ArgumentParser, path: str) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction) or action.dest in ("help", "version"):
                continue
            text = action.help or ""
            needs_default = bool(action.option_strings) and not action.required
            if not text or (needs_default and "default" not in text):
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
        for name, child in subcommands(parser).items():
            walk(child, f"{path} {name}")

    walk(build_parser(), "recovery-ledger")
    assert missing == []


def test_help_exit_codes_explains_every_code() -> None:
    result = run_cli("help", "exit-codes")
    assert result.code == 0
    codes = [int(m) for m in re.findall(r"^  (\d)  ", result.stdout, re.M)]
    assert codes == list(range(8))


def test_help_environment_names_every_variable_the_code_reads() -> None:
    result = run_cli("help", "environment")
    assert result.code == 0
    sources = [
        p
        for p in REPO.rglob("*.py")
        if not {".venv", "tests", "bench", "build"} & set(p.relative_to(REPO).parts)
    ]
    read = {v for p in sources for v in re.findall(r"RECOVERY_LEDGER_[A-Z_]+", p.read_text())}
    assert "RECOVERY_LEDGER_DEBUG" in read
    documented = set(re.findall(r"^  (RECOVERY_LEDGER_[A-Z_]+)", result.stdout, re.M))
    assert read <= documented, read - documented
    assert "NO_COLOR" in result.stdout


def test_help_on_a_command_and_an_unknown_topic() -> None:
    assert "--only-differences" in run_cli("help", "replay").stdout
    assert "Examples:" in run_cli("help", "show", "loop").stdout
    unknown = run_cli("help", "nonsense")
    assert unknown.code == 2 and unknown.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("args", "suggestion"),
    [(("bots",), "'boots'"), (("zombis",), "'zombies'"), (("loop", "regster"), "'register'")],
)
def test_a_mistyped_command_gets_a_did_you_mean(args: tuple[str, ...], suggestion: str) -> None:
    result = run_cli(*args)
    assert result.code == 2
    assert f"did you mean {suggestion}?" in result.stderr
    assert result.stderr.startswith("recovery-ledger: ") and result.stderr.count("\n") == 1
    assert "recovery-ledger: recovery-ledger" not in result.stderr


def test_usage_errors_carry_the_prefix_once() -> None:
    for args in (("loops", "--bogus"), ("loop", "register", "--loop"), ("audit", "--by", "year")):
        result = run_cli(*args)
        assert result.code == 2
        assert result.stderr.count("recovery-ledger") == 1, result.stderr


@pytest.mark.parametrize(
    ("shell", "name"), [("bash", "recovery-ledger.bash"), ("zsh", "_recovery-ledger")]
)
def test_the_shipped_completion_scripts_are_current(shell: str, name: str) -> None:
    generated = run_cli("completion", shell)
    assert generated.code == 0
    shipped = (REPO / "completions" / name).read_text()
    assert shipped == generated.stdout, (
        f"completions/{name} is stale: run "
        f"`python -m recovery_ledger completion {shell} > completions/{name}`"
    )


def test_bash_completes_commands_and_options() -> None:
    script = REPO / "completions" / "recovery-ledger.bash"
    probe = (
        f"source {script}; "
        "COMP_WORDS=(recovery-ledger bo); COMP_CWORD=1; _shtab_recovery_ledger; "
        'echo "${COMPREPLY[*]}"; COMPREPLY=(); '
        "COMP_WORDS=(recovery-ledger replay --only); COMP_CWORD=2; _shtab_recovery_ledger; "
        'echo "${COMPREPLY[*]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["boot boots", "--only-differences"]
