"""The incident views through the real command line: boots, show loop, the shared filters,
replay --only-differences, audit --by, loops --state, and tables as a person sees them on a
terminal (fitted, coloured) and as a program reads them from a pipe (tab-separated)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.infra.cli.table import display_width

from ..conftest import CliResult, copy_built, run_cli
from ..integration.test_store import make_token
from .terminal import run_in_terminal

pytestmark = pytest.mark.slow

ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, built_original: Path) -> dict[str, str]:
    """Two boots (a revival, a dead runner), a rotation, a finalize by the host."""
    directory = tmp_path_factory.mktemp("incident")
    ledger, keys = directory / "ledger.sqlite", directory / "keys"
    copy_built(built_original, ledger, keys)
    return {"RECOVERY_LEDGER_DB": str(ledger), "RECOVERY_LEDGER_KEYS": str(keys)}


def cli(env: dict[str, str], *args: str) -> CliResult:
    return run_cli(*args, env=env)


def document(env: dict[str, str], *args: str) -> dict[str, Any]:
    result = cli(env, *args, "--json")
    assert result.code == 0, result.stderr
    value = result.json()
    assert isinstance(value, dict)
    return value


# -- boots and boot prefixes -------------------------------------------------------------------


def test_boots_lists_every_boot_with_short_id_host_name_state_and_counts(
    built: dict[str, str],
) -> None:
    boots = document(built, "boots")["boots"]
    assert len(boots) == 2
    first, second = boots
    assert first["started_at"] < second["started_at"]
    assert all(b["state"] == "completed" and b["short_id"] == b["boot_id"][:8] for b in boots)
    assert first["examined"] == 4 and first["revived"] == 1 and first["finalized"] == 1
    assert first["host_name"] and first["host_id"] != first["host_name"]

    table = cli(built, "boots")
    header, *rows = table.stdout.splitlines()
    assert header.split("\t")[:5] == ["BOOT", "STARTED", "POLICY", "HOST", "STATE"]
    assert [r.split("\t")[0] for r in rows] == [first["short_id"], second["short_id"]]
    assert rows[0].split("\t")[3] == first["host_name"]  # hosts print by name


def test_a_boot_is_found_by_a_unique_prefix_of_six_characters(built: dict[str, str]) -> None:
    first, second = document(built, "boots")["boots"]
    by_prefix = document(built, "boots", "--boot", second["boot_id"][:6])["boots"]
    assert [b["boot_id"] for b in by_prefix] == [second["boot_id"]]
    replay = document(built, "replay", "--boot", first["boot_id"][:7].upper())
    assert [b["boot_id"] for b in replay["boots"]] == [first["boot_id"]]


def test_a_boot_prefix_shorter_than_six_characters_exits_2(built: dict[str, str]) -> None:
    first = document(built, "boots")["boots"][0]
    for command in ("boots", "replay", "zombies", "audit", "loops"):
        result = cli(built, command, "--boot", first["boot_id"][:5])
        assert result.code == 2, (command, result.stderr)
        assert "at least 6 characters" in result.stderr and result.stderr.count("\n") == 1
        assert "recovery-ledger: recovery-ledger:" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("boots", "--boot", "ffffffffff"),
        ("loops", "--host", "no-such-host"),
        ("replay", "--loop", "no-such-loop"),
        ("zombies", "--since", "2999-01-01"),
        ("audit", "--until", "2000-01-01"),
        ("loops", "--state", "open", "--loop", "dead"),
    ],
)
def test_a_filter_that_matches_nothing_says_so_and_exits_0(
    built: dict[str, str], args: tuple[str, ...]
) -> None:
    result = cli(built, *args)
    assert result.code == 0, result.stderr
    assert "no " in result.stderr and " match " in result.stderr
    assert result.stderr.count("\n") == 1


def test_host_filter_takes_the_name_or_the_id(built: dict[str, str]) -> None:
    boot = document(built, "boots")["boots"][0]
    for host in (boot["host_name"], boot["host_id"]):
        assert len(document(built, "loops", "--host", host)["loops"]) == 4
        assert len(document(built, "boots", "--host", host)["boots"]) == 2
    audit = document(built, "audit", "--host", boot["host_name"])
    assert audit["host"] == boot["host_id"] and audit["totals"]["boots"] == 2


# -- show loop ----------------------------------------------------------------------------------


def test_show_loop_tells_the_whole_story_in_order(built: dict[str, str]) -> None:
    story = document(built, "show", "loop", "rotated")
    kinds = [entry["kind"] for entry in story["timeline"]]
    assert kinds[:2] == ["registered", "token_issued"]
    assert "token_rotated" in kinds
    assert kinds.index("token_rotated") > kinds.index("reattached")  # rotated after boot 1
    assert [e["at"] for e in story["timeline"]] == sorted(e["at"] for e in story["timeline"])
    assert story["loop"]["loop_id"] == "rotated" and story["findings"] == []
    outcomes = [e for e in story["timeline"] if e["kind"] == "reattached"]
    assert len(outcomes) == 2 and all(
        e["rule"] == "cloud says active: reattached" for e in outcomes
    )


def test_show_loop_names_the_rule_and_what_older_policies_would_have_done(
    built: dict[str, str],
) -> None:
    story = document(built, "show", "loop", "revivable")
    kinds = [entry["kind"] for entry in story["timeline"]]
    for kind in ("jwt_rejected", "classified", "heartbeat_begun", "heartbeat_answered"):
        assert kind in kinds
    revived = next(e for e in story["timeline"] if e["kind"] == "reattached")
    assert revived["rule"] == "token rejected (401), PoP heartbeat revived it: fresh token adopted"
    [v1] = [w for w in revived["what_if"] if w["policy"] == "v1-legacy"]
    assert "finalized:unauthorized" in v1["summary"] and "no PoP fallback" in v1["rule"]

    dead = document(built, "show", "loop", "dead")
    final = next(e for e in dead["timeline"] if e["kind"] == "finalized")
    assert final["rule"].startswith("runner dead: never revived")
    assert any(w["policy"] == "v2-pop-unguarded" for w in final["what_if"])

    human = cli(built, "show", "loop", "revivable")
    assert human.code == 0
    assert "because token rejected (401), PoP heartbeat revived it" in human.stdout
    assert "v1-legacy would have: terminal, finalized:unauthorized" in human.stdout


def test_show_loop_shows_a_finalize_by_the_host_and_never_a_token(built: dict[str, str]) -> None:
    story = document(built, "show", "loop", "healthy")
    final = story["timeline"][-2:]
    assert [e["kind"] for e in final] == ["finalized", "token_cleared"]
    assert final[0]["detail"] == {
        "reason": "user stopped it",
        "by": "host",
        "cloud_last_word": None,
    }
    assert "finalized by the host: user stopped it" in cli(built, "show", "loop", "healthy").stdout
    assert "eyJ" not in str(story)  # no JWT, not even a sealed one


def test_show_loop_narrowed_to_one_boot_and_unknown_loop(built: dict[str, str]) -> None:
    second = document(built, "boots")["boots"][1]
    story = document(built, "show", "loop", "rotated", "--boot", second["short_id"])
    assert {e["boot_id"] for e in story["timeline"]} == {second["boot_id"]}
    missing = cli(built, "show", "loop", "no-such-loop")
    assert missing.code == 2 and "unknown loop 'no-such-loop'" in missing.stderr


# -- replay, audit, loops -----------------------------------------------------------------------


def test_replay_only_differences_prints_only_what_differs(built: dict[str, str]) -> None:
    result = cli(built, "replay", "--policy", "v1-legacy", "--only-differences", "--json")
    shown = [d for b in result.json()["boots"] for d in b["decisions"]]  # type: ignore[index]
    assert [d["loop_id"] for d in shown] == ["revivable"]
    assert all(not d["matches"] for d in shown)
    same = cli(built, "replay", "--only-differences")
    assert same.code == 0 and "boot " not in same.stdout and "0 differ" in same.stdout
    everything = cli(built, "replay")
    assert everything.stdout.count("because ") == 7  # every decision says why


def test_audit_by_day_week_and_month(built: dict[str, str]) -> None:
    for by, pattern in (
        ("day", r"\d{4}-\d{2}-\d{2}"),
        ("week", r"\d{4}-W\d{2}"),
        ("month", r"\d{4}-\d{2}"),
    ):
        report = document(built, "audit", "--by", by)
        assert report["by"] == by
        assert sum(b["totals"]["boots"] for b in report["buckets"]) == 2
        assert all(re.fullmatch(pattern, b["bucket"]) for b in report["buckets"])
    assert "== " in cli(built, "audit", "--by", "month").stdout
    assert cli(built, "audit", "--by", "year").code == 2


def test_loops_by_state(built: dict[str, str]) -> None:
    finalized = document(built, "loops", "--state", "finalized")["loops"]
    assert sorted(r["loop_id"] for r in finalized) == ["dead", "healthy"]
    assert sorted(r["loop_id"] for r in document(built, "loops", "--state", "open")["loops"]) == [
        "revivable",
        "rotated",
    ]


# -- tables for people and for programs ---------------------------------------------------------


def test_a_pipe_gets_tab_separated_values_without_colour_or_truncation(
    built: dict[str, str],
) -> None:
    out = cli(built, "zombies").stdout + cli(built, "loops").stdout
    assert "\x1b" not in out and "…" not in out
    for line in cli(built, "loops").stdout.splitlines():
        assert line.count("\t") == 7


def test_a_terminal_table_fits_its_width_and_wide_shows_everything(built: dict[str, str]) -> None:
    env = {**built, "NO_COLOR": "1"}
    for command in ("boots", "loops"):
        fitted = run_in_terminal(command, columns=72, env=env)
        assert all(display_width(line) <= 72 for line in fitted.splitlines()), fitted
        assert "…" in fitted and "\x1b" not in fitted
        wide = run_in_terminal(command, "--wide", columns=72, env=env)
        assert "…" not in wide and max(display_width(line) for line in wide.splitlines()) > 72


def test_a_colour_terminal_highlights_and_no_color_turns_it_off(built: dict[str, str]) -> None:
    coloured = run_in_terminal("boots", columns=200, env=built)
    assert "\x1b[1m" in coloured  # bold header
    plain = run_in_terminal("boots", columns=200, env={**built, "NO_COLOR": "1"})
    assert "\x1b" not in plain
    assert ANSI.sub("", coloured) == plain


def test_wide_characters_stay_aligned_and_recorded_text_is_escaped(
    tmp_path: Path, runner: subprocess.Popen[bytes]
) -> None:
    env = {
        "RECOVERY_LEDGER_DB": str(tmp_path / "l.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / "k"),
        "NO_COLOR": "1",
    }
    for loop_id in ("日本語のループ", "plain-loop"):
        register = ("loop", "register", "--loop", loop_id, "--pid", str(runner.pid))
        result = run_cli(
            *register, "--provenance", "user_created", stdin=make_token(loop_id), env=env
        )
        assert result.code == 0, result.stderr
    evil = "bye\x1b[2J\x1b[31mred"
    assert run_cli("loop", "finalize", "--loop", "plain-loop", "--reason", evil, env=env).code == 0
    table = run_in_terminal("loops", columns=200, env=env).splitlines()
    columns = {display_width(line[: line.index("user_created")]) for line in table[1:]}
    assert len(columns) == 1, table  # PROVENANCE starts at the same cell on every row
    story = run_in_terminal("show", "loop", "plain-loop", columns=200, env=env)
    assert "\x1b[2J" not in story and "bye\\x1b[2J\\x1b[31mred" in story


def test_differences_and_findings_are_highlighted_on_a_colour_terminal(
    built: dict[str, str],
) -> None:
    replay = run_in_terminal("replay", "--policy", "v1-legacy", columns=200, env=built)
    [line] = [line for line in replay.splitlines() if "v1-legacy would have" in line]
    assert line.startswith("\x1b[33m") and line.endswith("\x1b[0m")
    story = run_in_terminal("show", "loop", "revivable", columns=200, env=built)
    assert "\x1b[33m" in story
    plain = run_in_terminal("replay", "--policy", "v1-legacy", env={**built, "NO_COLOR": "1"})
    assert "\x1b" not in plain and "v1-legacy would have" in plain
