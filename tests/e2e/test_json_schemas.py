"""Every `--json` output validates against its JSON Schema in docs/schemas/, from the real
command line on a real ledger (the demo's, plus a loop's whole life), and every command that
takes --json has a schema (or says why it prints no JSON document)."""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from recovery_ledger.infra.cli.help_text import subcommands
from recovery_ledger.infra.cli.parser import build_parser

from ..conftest import REPO, run_cli
from ..integration.test_store import make_token

pytestmark = pytest.mark.slow

SCHEMAS = REPO / "docs" / "schemas"
# Commands whose --json is accepted for uniformity but that print no JSON document.
NO_DOCUMENT = {
    "export": "JSON Lines, one event a line (docs/integrity.md)",
    "cloud serve": "a server",
    "collector serve": "a server",
}
# Validated where a collector runs: tests/fleet/test_ship_cli.py.
ELSEWHERE = {
    "ship": "ship.schema.json",
    "collector enroll": "collector-enroll.schema.json",
    "collector readmit": "collector-readmit.schema.json",
}


def validate(name: str, output: str) -> dict[str, Any]:
    document = json.loads(output)
    schema = json.loads((SCHEMAS / name).read_text())
    errors = sorted(Draft202012Validator(schema).iter_errors(document), key=str)
    assert not errors, f"{name}: {errors[0].message} at {list(errors[0].absolute_path)}"
    assert document["schema_version"] == 1
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, str]]]:
    """command -> [(schema, stdout)], each from a real run."""
    directory = tmp_path_factory.mktemp("schemas")
    demo = run_cli("demo", "--dir", str(directory / "demo"), "--json", timeout=180)
    assert demo.code == 0, demo.stderr
    ledger = directory / "demo" / "ledger.sqlite"
    env = {"RECOVERY_LEDGER_DB": str(ledger)}
    # demo --json passes on the stdout of the real `boot --json` it runs against its cloud.
    boot_run = [("boot.schema.json", demo.stdout)]
    found: dict[str, list[tuple[str, str]]] = {"demo": boot_run, "boot": boot_run}

    def run(command: str, schema: str, *args: str, stdin: str | None = None, **extra: str) -> None:
        result = run_cli(*command.split(), *args, "--json", stdin=stdin, env={**env, **extra})
        assert result.code in (0, 5), result.stderr  # replay --policy exits 5 on differences
        found.setdefault(command, []).append((schema, result.stdout))

    runner = subprocess.Popen(["sleep", "60"])
    try:
        register = ("--loop", "L9", "--pid", str(runner.pid), "--provenance", "desktop_managed")
        run("loop register", "loop.schema.json", *register, stdin=make_token("j1"))
    finally:
        runner.kill()
        runner.wait()
    run("loop token", "loop.schema.json", "--loop", "L9", stdin=make_token("j2"))
    run("token get", "token-get.schema.json", "--loop", "L9")
    run("loop finalize", "loop.schema.json", "--loop", "L9", "--reason", "done")
    run("loops", "loops.schema.json")
    run("loops", "loops.schema.json", "--state", "open", "--host", "nowhere")
    run("boots", "boots.schema.json")
    for loop_id in ("live-stale-jwt", "dead-runner-cloud-active", "L9"):
        run("show loop", "show-loop.schema.json", loop_id)
    run("replay", "replay.schema.json")
    run("replay", "replay.schema.json", "--policy", "v1-legacy", "--only-differences")
    run("replay", "replay.schema.json", "--policy", "v2-pop-unguarded")
    run("zombies", "zombies.schema.json")
    run("audit", "audit.schema.json")
    run("audit", "audit.schema.json", "--by", "week")
    run("report", "report.schema.json", "--html", str(directory / "r.html"))
    run(
        "key show", "key-show.schema.json", "--pop-key", str(directory / "demo" / "managed_key.pem")
    )
    run("key show", "key-show.schema.json", "--pop-key", str(directory / "missing.pem"))
    run("verify", "verify.schema.json")
    run("projections rebuild", "projections-rebuild.schema.json")
    exported = run_cli("export", env=env)
    assert exported.code == 0
    (directory / "events.jsonl").write_text(exported.stdout)
    imported = run_cli(
        "import", str(directory / "events.jsonl"), "--json",
        "--ledger", str(directory / "copy.sqlite"), "--keys", str(directory / "copy-keys"),
    )  # fmt: skip
    assert imported.code == 0, imported.stderr
    found["import"] = [("import.schema.json", imported.stdout)]
    adopted = run_cli(
        "key", "adopt", "--i-lost-my-keys", "--json",
        "--ledger", str(directory / "copy.sqlite"), "--keys", str(directory / "adopting-keys"),
    )  # fmt: skip
    assert adopted.code == 0, adopted.stderr
    found["key adopt"] = [("key-adopt.schema.json", adopted.stdout)]
    boot = json.loads(demo.stdout)
    assert boot["loops"]  # the demo's boot document is a real one
    return found


def test_every_json_output_validates_against_its_schema(
    outputs: dict[str, list[tuple[str, str]]],
) -> None:
    for runs in outputs.values():
        for schema, stdout in runs:
            validate(schema, stdout)


def test_the_schemas_catch_drift(outputs: dict[str, list[tuple[str, str]]]) -> None:
    """The schemas are strict where we own the document: an extra or missing key fails."""
    schema, stdout = outputs["loops"][0]
    document = json.loads(stdout)
    document["loops"][0]["surprise"] = 1
    strict = Draft202012Validator(json.loads((SCHEMAS / schema).read_text()))
    assert not strict.is_valid(document)
    del document["loops"][0]["surprise"], document["loops"][0]["revivals"]
    assert not strict.is_valid(document)


def test_loop_register_prints_what_loops_prints(outputs: dict[str, list[tuple[str, str]]]) -> None:
    registered = json.loads(outputs["loop register"][0][1])
    listed = next(r for r in json.loads(outputs["loops"][0][1])["loops"] if r["loop_id"] == "L9")
    assert set(registered) - {"schema_version"} == set(listed)
    assert registered["token"]["source"] == "issued"  # the same word as loops --json
    rotated = json.loads(outputs["loop token"][0][1])
    assert rotated["token"]["source"] == "rotated"


def _json_commands(parser: argparse.ArgumentParser, path: str = "") -> list[str]:
    found = [path] if any("--json" in a.option_strings for a in parser._actions) else []
    for name, child in subcommands(parser).items():
        found += _json_commands(child, f"{path} {name}".strip())
    return found


def test_every_command_with_json_output_has_a_schema(
    outputs: dict[str, list[tuple[str, str]]],
) -> None:
    uncovered = set(_json_commands(build_parser())) - set(outputs) - set(NO_DOCUMENT)
    assert uncovered - set(ELSEWHERE) == set()
    named = {schema for runs in outputs.values() for schema, _ in runs} | set(ELSEWHERE.values())
    assert named == {p.name for p in SCHEMAS.glob("*.schema.json")}


def test_key_show_schema_forbids_private_members() -> None:
    schema = Draft202012Validator(json.loads((SCHEMAS / "key-show.schema.json").read_text()))
    leaked = {"kty": "OKP", "crv": "Ed25519", "x": "a", "d": "secret"}
    document = {
        "schema_version": 1, "pop_key": None, "pop_key_path": "p", "pop_key_reason": "missing",
        "ledger_key": {"jwk": leaked, "thumbprint": "A" * 43}, "ledger_key_path": "k",
    }  # fmt: skip
    assert not schema.is_valid(document)
    del leaked["d"]
    assert schema.is_valid(document)


def test_schema_files_are_valid_json_schemas() -> None:
    for path in SCHEMAS.glob("*.schema.json"):
        Draft202012Validator.check_schema(json.loads(path.read_text()))
    assert Path(SCHEMAS / "boot.schema.json").exists()
