"""Export and import: tokens stay sealed in an export; import checks the whole file first and
then writes all of it or nothing; an event already present is skipped only when identical."""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ..conftest import CliResult, copy_built, event_count, run_cli
from .ledger_builder import build_ledger

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, built_original: Path) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("source")
    ledger, keys = directory / "ledger.sqlite", directory / "keys"
    copy_built(built_original, ledger, keys)
    return {"RECOVERY_LEDGER_DB": str(ledger), "RECOVERY_LEDGER_KEYS": str(keys)}


@pytest.fixture(scope="module")
def exported(source: dict[str, str]) -> list[str]:
    result = run_cli("export", env=source)
    assert result.code == 0, result.stderr
    return result.stdout.splitlines()


def target(tmp_path: Path, name: str = "target") -> dict[str, str]:
    return {
        "RECOVERY_LEDGER_DB": str(tmp_path / f"{name}.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / f"{name}.keys"),
    }


def import_lines(lines: list[str], env: dict[str, str], tmp_path: Path) -> CliResult:
    path = tmp_path / "import.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    return run_cli("import", str(path), env=env)


def test_an_export_holds_no_token(source: dict[str, str], exported: list[str]) -> None:
    tokens = [run_cli("token", "get", "--loop", loop, env=source).stdout.strip()
              for loop in ("revivable", "rotated")]  # fmt: skip
    assert all(token.count(".") == 2 for token in tokens)
    text = "\n".join(exported)
    states = b"".join(base64.b64decode(json.loads(line)["state"]) for line in exported)
    assert b"sealed_token" in states  # the check below would be vacuous otherwise
    for token in tokens:
        signature = token.rsplit(".", 1)[1]
        assert token not in text and signature not in text
        assert signature.encode() not in states and token.encode() not in states


def test_importing_the_same_export_twice_writes_it_once(
    exported: list[str], tmp_path: Path
) -> None:
    env = target(tmp_path)
    first = import_lines(exported, env, tmp_path)
    assert first.code == 0 and f"imported {len(exported)} events" in first.stdout
    again = import_lines(exported, env, tmp_path)
    assert again.code == 0, again.stderr
    assert f"imported 0 events ({len(exported)} already present)" in again.stdout
    assert event_count(env) == len(exported)


def _edit(line: str, **changes: Any) -> str:
    data = json.loads(line)
    data.update(changes)
    return json.dumps(data)


def _altered_state(line: str) -> str:
    """The registration rewritten to another provenance: still a valid event, but not the
    one the chain recorded."""
    state = base64.b64decode(json.loads(line)["state"])
    assert b'"desktop_managed"' in state
    state = state.replace(b'"desktop_managed"', b'"user_created"')
    return _edit(line, state=base64.b64encode(state).decode())


BROKEN_FILES: dict[str, tuple[Callable[[list[str]], list[str]], str]] = {
    "not JSON": (lambda lines: [*lines[:5], "{not json", *lines[5:]], "not JSON"),
    "a JSON list": (lambda lines: [*lines[:5], "[1, 2]", *lines[5:]], "not a JSON object"),
    "missing field": (
        lambda lines: [*lines[:5], _edit(lines[5], originator_id=None), *lines[6:]],
        "missing or malformed fields",
    ),
    "unknown topic": (
        lambda lines: [*lines[:5], _edit(lines[5], topic="rl:Nope@1"), *lines[6:]],
        "unknown topic",
    ),
    "state edited": (
        lambda lines: [_altered_state(lines[0]), *lines[1:]],
        "does not match its chain link",
    ),
    "lines swapped": (
        lambda lines: [*lines[:5], lines[6], lines[5], *lines[7:]],
        "chain is broken",
    ),
    "a line removed": (lambda lines: [*lines[:5], *lines[6:]], "chain is broken"),
    "the head cut off": (lambda lines: lines[4:], "must start at the chain's beginning"),
    "positions rewritten": (
        lambda lines: [*lines[:5], _edit(lines[5], position=1), *lines[6:]],
        "not in ascending order",
    ),
    "mixed scopes": (
        lambda lines: [*lines[:5], _edit(lines[5], scope="loop"), *lines[6:]],
        "mixed",
    ),
    "empty": (lambda lines: [], "holds no events"),
}


@pytest.mark.parametrize("name", BROKEN_FILES)
def test_a_damaged_export_is_refused_whole_and_nothing_is_written(
    exported: list[str], tmp_path: Path, name: str
) -> None:
    env = target(tmp_path)
    head = import_lines(exported[:3], env, tmp_path)  # the target already holds something
    assert head.code == 0, head.stderr
    damage, message = BROKEN_FILES[name]
    result = import_lines(damage(exported), env, tmp_path)
    assert result.code == 2, result.stderr
    assert message in result.stderr
    assert "nothing written" in result.stderr or name == "empty"
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert event_count(env) == 3


def test_a_damaged_export_creates_no_ledger(exported: list[str], tmp_path: Path) -> None:
    env = target(tmp_path)
    result = import_lines([*exported[:5], "{not json"], env, tmp_path)
    assert result.code == 2
    assert not Path(env["RECOVERY_LEDGER_DB"]).exists()
    assert not Path(env["RECOVERY_LEDGER_KEYS"]).exists()


def test_a_different_event_at_the_same_place_is_refused(
    exported: list[str], tmp_path: Path
) -> None:
    other = tmp_path / "other"
    build_ledger(str(other / "ledger.sqlite"), other / "keys")  # same loop ids, other events
    env = {"RECOVERY_LEDGER_DB": str(other / "ledger.sqlite"),
           "RECOVERY_LEDGER_KEYS": str(other / "keys")}  # fmt: skip
    before = event_count(env)
    result = import_lines(exported, env, tmp_path)
    assert result.code == 2
    assert "a different event is already recorded" in result.stderr
    assert event_count(env) == before


def test_one_loop_exported_and_imported_verifies_and_lists(
    source: dict[str, str], tmp_path: Path
) -> None:
    one = run_cli("export", "--loop", "revivable", env=source)
    assert one.code == 0
    lines = one.stdout.splitlines()
    assert {json.loads(line)["topic"].split(".")[0] for line in lines} == {"rl:Loop"}
    env = target(tmp_path)
    assert import_lines(lines, env, tmp_path).code == 0
    assert run_cli("verify", env=env).code == 0
    listing = run_cli("loops", "--json", env=env).json()
    assert isinstance(listing, dict)
    assert [row["loop_id"] for row in listing["loops"]] == ["revivable"]
    # Without the source's key directory the imported token stays sealed.
    assert run_cli("token", "get", "--loop", "revivable", env=env).code == 4


def test_a_ledger_copied_without_its_keys_still_reads_everything_but_tokens(
    source: dict[str, str], tmp_path: Path
) -> None:
    copy = tmp_path / "copy.sqlite"
    shutil.copy(source["RECOVERY_LEDGER_DB"], copy)
    env = {"RECOVERY_LEDGER_DB": str(copy), "RECOVERY_LEDGER_KEYS": str(tmp_path / "nokeys")}
    for args in (("loops", "--json"), ("replay", "--json"), ("audit", "--json"), ("zombies",)):
        assert run_cli(*args, env=env).code == 0, args
    assert run_cli("token", "get", "--loop", "rotated", env=env).code == 4
