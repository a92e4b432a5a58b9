"""The read side through the real command line: replay, what-if, zombies, audit and
projections rebuild, on a demo ledger and on ledgers built against the reference cloud."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.projections.audit import CSV_COLUMNS

from ..conftest import CliResult, Ledger, run_cli
from ..e2e.test_boot_e2e import World, outcome, world  # noqa: F401 - the fixture

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("demo") / "run"
    result = run_cli("demo", "--dir", str(directory), timeout=120)
    assert result.code == 0, result.stderr
    return directory / "ledger.sqlite"


def on(ledger: Path, *args: str) -> CliResult:
    return run_cli(*args, "--ledger", str(ledger), "--keys", str(ledger.parent / "keys"))


def as_dict(result: CliResult) -> dict[str, Any]:
    document = result.json()
    assert isinstance(document, dict)
    return document


def decisions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [d for boot in document["boots"] for d in boot["decisions"]]


# -- replay -------------------------------------------------------------------------------------


def test_replay_of_the_demo_rederives_every_decision(demo: Path) -> None:
    result = on(demo, "replay", "--json")
    assert result.code == 0, result.stderr
    document = as_dict(result)
    assert document["differences"] == 0 and document["decisions"] == 7
    [boot] = document["boots"]
    assert boot["policy"] == "v4-key-guarded" and boot["interrupted"] is False
    for decision in decisions(document):
        assert decision["matches"] and decision["complete"]
        assert decision["rederived"]["policy"] == "v4-key-guarded"
        assert decision["evidence"]  # every decision names the events behind it


def test_replay_as_v1_legacy_exits_5_and_names_the_revived_loop(demo: Path) -> None:
    result = on(demo, "replay", "--json", "--policy", "v1-legacy")
    assert result.code == 5
    document = as_dict(result)
    differing = [d for d in decisions(document) if not d["matches"]]
    assert [d["loop_id"] for d in differing] == ["live-stale-jwt"]
    [live] = differing
    assert live["recorded"]["outcome"] == "reattached:revived"
    assert live["rederived"]["outcome"] == "finalized:unauthorized"

    human = on(demo, "replay", "--policy", "v1-legacy")
    assert human.code == 5
    assert "live-stale-jwt" in human.stdout and "v1-legacy would have" in human.stdout


def test_replay_as_v2_says_it_would_have_posted_for_the_dead_runner(demo: Path) -> None:
    document = as_dict(on(demo, "replay", "--json", "--policy", "v2-pop-unguarded"))
    dead = next(d for d in decisions(document) if d["loop_id"] == "dead-runner")
    assert dead["rederived"]["posts_heartbeat"] is True
    assert dead["rederived"]["summary"] == "would post a heartbeat; the answer is unknown"
    assert not dead["matches"]


def test_replay_narrows_to_a_loop_or_a_boot(demo: Path) -> None:
    one = as_dict(on(demo, "replay", "--json", "--loop", "healthy"))
    assert [d["loop_id"] for d in decisions(one)] == ["healthy"]
    boot_id = one["boots"][0]["boot_id"]
    by_boot = as_dict(on(demo, "replay", "--json", "--boot", boot_id))
    assert len(decisions(by_boot)) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--policy", "v9"), "policy"),
        (("--boot", "abc"), "at least 6 characters"),
        (("--since", "yesterday"), "--since"),
    ],
)
def test_replay_refuses_what_it_cannot_replay(
    demo: Path, args: tuple[str, ...], message: str
) -> None:
    result = on(demo, "replay", *args)
    assert result.code == 2, result.stderr
    assert message in result.stderr and result.stderr.count("\n") == 1


# -- zombies ------------------------------------------------------------------------------------


def test_zombies_names_the_server_zombie_the_dead_runner_left(demo: Path) -> None:
    document = as_dict(on(demo, "zombies", "--json"))
    [finding] = document["findings"]
    assert finding["kind"] == "server_zombie"
    assert finding["loop_id"] == "dead-runner-cloud-active"
    assert finding["at"].endswith("Z") and "status:active" in finding["detail"]
    assert [e.split(":")[0] for e in finding["evidence"]] == ["CloudAnswered", "Finalized"]


def test_a_v2_boot_leaves_a_heartbeat_for_a_dead_pid_and_a_revival_then_finalized(
    world: World,  # noqa: F811
) -> None:
    world.add("ghost", alive=False, stale=True)
    world.add("fine", alive=True, stale=True)
    document = world.boot("--policy", "v2-pop-unguarded")
    ghost = world.entry(document, "ghost")
    assert ghost["heartbeat"]["revived"] is True  # the cloud brought it back...
    assert outcome(ghost) == ("finalized", "dead_pid")  # ...and the boot killed it again
    assert outcome(world.entry(document, "fine")) == ("reattached", "revived")

    findings = as_dict(world.cli("zombies", "--json"))["findings"]
    kinds = sorted((f["kind"], f["loop_id"]) for f in findings)
    assert ("heartbeat_for_dead_pid", "ghost") in kinds
    assert ("revived_then_finalized", "ghost") in kinds
    assert all(loop == "ghost" for _, loop in kinds)
    # The replay shows the guard v3 would have kept.
    replay = world.cli("replay", "--json", "--policy", "v3-pop-guarded")
    assert replay.code == 5
    ghost_decision = next(d for d in decisions(as_dict(replay)) if d["loop_id"] == "ghost")
    assert ghost_decision["rederived"]["posts_heartbeat"] is False


# -- audit ---------------------------------------------------------------------------------------


def test_audit_json_counts_the_demo_boot(demo: Path) -> None:
    document = as_dict(on(demo, "audit", "--json"))
    totals = document["totals"]
    assert totals["boots"] == 1 and totals["loops_examined"] == 7
    assert totals["revivals"] == 1 and totals["heartbeats"] == {"revived": 1}
    assert totals["outcomes"]["finalized:dead_pid"] == 2
    assert totals["findings"] == {"server_zombie": 1}
    assert len(document["hosts"]) == 1


def test_audit_csv_has_one_row_per_decision_and_the_documented_columns(demo: Path) -> None:
    result = on(demo, "audit", "--format", "csv")
    assert result.code == 0, result.stderr
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
    assert len(rows) == 7
    revived = next(r for r in rows if r["loop_id"] == "live-stale-jwt")
    assert (revived["heartbeat_http"], revived["token_revived"]) == ("200", "true")
    assert revived["boot_started_at"].endswith("Z") and "T" in revived["boot_started_at"]


@pytest.mark.parametrize(
    ("since", "until", "boots"),
    [
        ("2000-01-01", None, 1),
        ("2000-01-01T00:00:00Z", "2000-01-02T00:00:00+02:00", 0),
        ("2999-01-01", None, 0),
    ],
)
def test_audit_window_accepts_dates_and_rfc3339(
    demo: Path, since: str, until: str | None, boots: int
) -> None:
    args = ["audit", "--json", "--since", since] + (["--until", until] if until else [])
    document = as_dict(on(demo, *args))
    assert document["totals"]["boots"] == boots


@pytest.mark.parametrize("bad", ["yesterday", "2026-13-01", "2026-11-25 10:00", "1732500000", ""])
def test_audit_refuses_a_time_that_is_not_a_date_or_rfc3339(demo: Path, bad: str) -> None:
    for option in ("--since", "--until"):
        result = on(demo, "audit", option, bad)
        assert result.code == 2, (option, bad, result.stderr)
        assert result.stderr.count("\n") == 1 and option in result.stderr
        assert result.stdout == ""


def test_audit_by_host(demo: Path) -> None:
    host = next(iter(as_dict(on(demo, "audit", "--json"))["hosts"]))
    assert as_dict(on(demo, "audit", "--json", "--host", host))["totals"]["boots"] == 1
    assert as_dict(on(demo, "audit", "--json", "--host", "elsewhere"))["totals"]["boots"] == 0


# -- projections rebuild -------------------------------------------------------------------------


def _tables(ledger: Ledger) -> dict[str, list[tuple[Any, ...]]]:
    from recovery_ledger.infra.bootstrap import ledger_app
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.projection_store.store import ProjectionStore
    from recovery_ledger.infra.store.location import resolve_location

    app = ledger_app(resolve_location(ledger.arg), KeyStore(ledger.keys_dir), create=False)
    store = ProjectionStore(app)
    try:
        return {**store.dump(), "position": [(store.position(),)]}
    finally:
        store.close()
        app.close()


@pytest.mark.both_backends
def test_rebuild_produces_identical_tables(built_ledger: Ledger) -> None:
    ledger = built_ledger
    assert run_cli("audit", "--json", env=ledger.env()).code == 0  # catches the tables up
    before = _tables(ledger)
    assert len(before["rl_loops"]) == 4 and len(before["rl_decisions"]) >= 6
    assert before["rl_boots"] and before["position"][0][0] > 0

    result = run_cli("projections", "rebuild", "--json", env=ledger.env())
    assert result.code == 0, result.stderr
    assert as_dict(result)["events"] > 0
    assert _tables(ledger) == before


def test_a_v1_boot_of_a_live_managed_loop_is_a_false_kill(world: World) -> None:  # noqa: F811
    world.add("victim", alive=True, stale=True)
    document = world.boot("--policy", "v1-legacy")
    assert outcome(world.entry(document, "victim")) == ("finalized", "unauthorized")
    findings = as_dict(world.cli("zombies", "--json"))["findings"]
    assert [(f["kind"], f["loop_id"]) for f in findings] == [("false_kill", "victim")]


@pytest.mark.both_backends
def test_a_fleet_ledger_audits_per_host(world: World, tmp_path: Path) -> None:  # noqa: F811
    """Two installations (each its own key directory, so its own host id) meet in one
    ledger, as a fleet does: a ledger belongs to one installation, so the second one's
    events come in by import (the collector's way), and audit reports each host and each
    host's boots."""
    world.add("first-host-loop", alive=True)
    world.boot()
    other_keys = tmp_path / "other-installation"
    other = {
        "RECOVERY_LEDGER_DB": str(tmp_path / "other.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(other_keys),
    }
    runner = world.runners["first-host-loop"]
    world.cloud.add_loop("second-host-loop")
    token = world.cloud.issue_token("second-host-loop")
    register = run_cli(
        "loop", "register", "--loop", "second-host-loop", "--pid", str(runner.pid),
        "--provenance", "user_created", stdin=token, env=other,
    )  # fmt: skip
    assert register.code == 0, register.stderr
    assert run_cli("boot", "--json", "--cloud", world.cloud.url, env=other).code == 0
    assert run_cli("boot", "--json", "--cloud", world.cloud.url, env=other).code == 0
    # Another installation's key directory may not write into this ledger ...
    foreign = {**world.ledger.env(), "RECOVERY_LEDGER_KEYS": str(other_keys)}
    refused = run_cli("loop", "finalize", "--loop", "first-host-loop", "--reason", "x", env=foreign)
    assert refused.code == 4
    # ... its events come in through export and import.
    export = tmp_path / "second.jsonl"
    export.write_text(run_cli("export", env=other).stdout)
    assert world.cli("import", str(export)).code == 0

    first = as_dict(world.cli("replay", "--json", "--loop", "first-host-loop"))
    assert first["decisions"] == 1
    states = {r["loop_id"]: r["state"] for r in as_dict(world.cli("loops", "--json"))["loops"]}
    assert states == {"first-host-loop": "open", "second-host-loop": "open"}

    document = as_dict(world.cli("audit", "--json"))
    hosts = document["hosts"]
    assert len(hosts) == 2
    assert sorted(section["boots"] for section in hosts.values()) == [1, 2]
    assert document["totals"]["boots"] == 3
    second_host = (other_keys / "host-id").read_text().strip()
    assert second_host in hosts
    only = as_dict(world.cli("audit", "--json", "--host", second_host))
    assert only["totals"]["boots"] == 2 and list(only["hosts"]) == [second_host]
    # The ledger's own heads cover the imported events too.
    verify = as_dict(world.cli("verify", "--json"))
    assert verify["ok"] is True
