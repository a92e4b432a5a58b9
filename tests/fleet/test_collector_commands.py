"""The collector's commands on its ledger: `--host` takes the enrolled name, `collector
enroll` takes a thumbprint beginning with '-', both commands that write refuse a key
directory that is not the ledger's own, and `collector readmit` lets an installation
refused as rolled back resume its history, keeping what it superseded as evidence."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from ..conftest import run_cli
from ..e2e.test_json_schemas import validate
from .collector_process import CollectorLedger, running_collector
from .test_ship_cli import SHIPPED, Desktop, Fleet, fleet, one_line

pytestmark = [pytest.mark.postgres, pytest.mark.slow]
__all__ = ["fleet"]  # the fixture, shared with test_ship_cli.py


def _ship(desktop: Desktop, url: str) -> dict[str, object]:
    shipped = desktop.cli("ship", "--to", url, "--json")
    assert shipped.code == 0, shipped.stderr
    document = shipped.json()
    assert isinstance(document, dict)
    return document


def _loop_ids(ledger: CollectorLedger, *options: str) -> set[str]:
    listed = run_cli("loops", *options, "--json", env=ledger.env())
    assert listed.code == 0, listed.stderr
    document: Any = listed.json()
    rows = document["loops"] if isinstance(document, dict) else document
    return {row["loop_id"] for row in rows}


def test_host_on_the_collectors_ledger_takes_the_enrolled_name(fleet: Fleet) -> None:
    ledger, alpha, beta = fleet
    ledger.enroll(alpha.thumbprint(), "alpha-desk")
    ledger.enroll(beta.thumbprint(), "beta-desk")
    with running_collector(ledger) as collector:
        _ship(alpha, collector.url)
        _ship(beta, collector.url)
    assert _loop_ids(ledger, "--host", "alpha-desk") == {"alpha-1", "alpha-2"}
    assert _loop_ids(ledger, "--host", "beta-desk") == {"beta-1", "beta-2"}
    assert _loop_ids(ledger, "--host", beta.host_id) == {"beta-1", "beta-2"}  # ids still work


def test_enroll_takes_a_thumbprint_beginning_with_a_dash_as_its_own_argument(
    fleet: Fleet,
) -> None:
    ledger, _, _ = fleet
    thumbprint = "-" + "x" * 42
    enrolled = run_cli(
        "collector", "enroll", "--thumbprint", thumbprint, "--name", "dash", env=ledger.env()
    )
    assert enrolled.code == 0, enrolled.stderr
    assert ledger.query("SELECT thumbprint FROM fleet_installations") == [(thumbprint,)]
    missing = run_cli("collector", "enroll", "--thumbprint", "--name", "x", env=ledger.env())
    assert missing.code == 2 and "--thumbprint" in one_line(missing)


def test_enroll_and_serve_refuse_a_key_directory_not_the_ledgers_own(
    fleet: Fleet, tmp_path: Path
) -> None:
    ledger, alpha, _ = fleet
    ledger.enroll(alpha.thumbprint(), "alpha")
    with running_collector(ledger) as collector:
        _ship(alpha, collector.url)  # the collector's ledger now holds events it signed
    foreign = {**ledger.env(), "RECOVERY_LEDGER_KEYS": str(tmp_path / "other-keys")}
    enrolled = run_cli("collector", "enroll", "--thumbprint", "B" * 43, "--name", "b", env=foreign)
    assert enrolled.code == 4 and "nothing was written" in one_line(enrolled)
    assert ledger.query("SELECT COUNT(*) FROM fleet_installations") == [(1,)]
    served = run_cli("collector", "serve", "--listen", "127.0.0.1:0", env=foreign, timeout=30)
    assert served.code == 4 and "nothing was written" in one_line(served)
    assert served.stdout == ""


def _copy_ledger(desktop: Desktop, to: Path) -> None:
    to.mkdir()
    for file in desktop.path.parent.glob(desktop.path.name + "*"):
        shutil.copy2(file, to / file.name)
    shutil.copytree(desktop.keys, to / "keys")


def _restore_ledger(desktop: Desktop, backup: Path) -> None:
    for file in desktop.path.parent.glob(desktop.path.name + "*"):
        file.unlink()
    shutil.rmtree(desktop.keys)
    for file in backup.glob(desktop.path.name + "*"):
        shutil.copy2(file, desktop.path.parent / file.name)
    shutil.copytree(backup / "keys", desktop.keys)


def test_readmit_lets_a_rolled_back_installation_resume_keeping_the_superseded_as_evidence(
    fleet: Fleet, tmp_path: Path
) -> None:
    ledger, alpha, beta = fleet
    thumbprint = alpha.thumbprint()
    ledger.enroll(thumbprint, "alpha")
    ledger.enroll(beta.thumbprint(), "beta")
    with running_collector(ledger) as collector:
        assert _ship(alpha, collector.url) == SHIPPED | {"shipped": 4, "position": 4}
        _copy_ledger(alpha, tmp_path / "backup")
        alpha.register("alpha-3")
        assert _ship(alpha, collector.url) == SHIPPED | {"shipped": 2, "position": 6}
        _restore_ledger(alpha, tmp_path / "backup")  # events 5 and 6 are lost on the desktop
        alpha.register("alpha-4")  # a new history from event 5 on
        refused = alpha.cli("ship", "--to", collector.url)
        assert refused.code == 6 and "rolled_back" in one_line(refused)

        never_refused = run_cli(
            "collector", "readmit", "--thumbprint", beta.thumbprint(), "--reason", "x",
            env=ledger.env(),
        )  # fmt: skip
        assert never_refused.code == 2 and "nothing to readmit" in one_line(never_refused)
        readmitted = run_cli(
            "collector", "readmit", "--thumbprint", thumbprint, "--by", "ops-on-call",
            "--reason", "restored from backup", "--json", env=ledger.env(),
        )  # fmt: skip
        assert readmitted.code == 0, readmitted.stderr
        document = validate("collector-readmit.schema.json", readmitted.stdout)
        assert (document["readmitted"], document["acknowledged"]) == (True, 6)

        assert _ship(alpha, collector.url) == SHIPPED | {"shipped": 2, "position": 6}
        assert _ship(alpha, collector.url) == SHIPPED | {"shipped": 0, "position": 6}
        assert collector.stop() == 0
    assert ledger.query(
        "SELECT by_whom, reason, acked_count, resumed_count FROM fleet_readmissions"
    ) == [("ops-on-call", "restored from backup", 6, 4)]
    assert ledger.query("SELECT seq FROM fleet_superseded_events ORDER BY seq") == [(5,), (6,)]
    assert ledger.query("SELECT MAX(seq), COUNT(*) FROM fleet_events f JOIN fleet_installations "
                        "USING (installation) WHERE host_name = 'alpha'") == [(6, 6)]  # fmt: skip
    assert ledger.acked("alpha") == 6
    assert ledger.stored_events() == 8  # alpha-3's two events stay, as evidence
    assert {"alpha-3", "alpha-4"} <= _loop_ids(ledger)
    verified = run_cli("verify", env=ledger.env())
    assert verified.code == 0, verified.stdout + verified.stderr
