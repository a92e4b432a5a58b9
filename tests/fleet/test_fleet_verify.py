"""`verify` on a collector's ledger checks each installation's history and signatures on
its own: a head forged in the collector's database, or an installation's event removed,
fails verify and names the installation, while the others still verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from recovery_ledger.infra.fleet.client import CollectorClient
from recovery_ledger.infra.fleet.shipper import ship

from ..conftest import run_cli
from .collector_process import CollectorLedger, collector_ledger, running_collector
from .simulated_host import SimulatedHost

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def verify(ledger: CollectorLedger) -> tuple[int, dict[str, Any]]:
    result = run_cli("verify", "--json", env=ledger.env())
    document = result.json()
    assert isinstance(document, dict)
    return result.code, document


def test_verify_checks_each_installation_on_its_own(tmp_path: Path) -> None:
    hosts = [SimulatedHost("alpha", loops=3), SimulatedHost("beta", loops=3)]
    with collector_ledger(tmp_path) as ledger:
        ledger.enroll("A" * 43, "placeholder")
        for host in hosts:
            ledger.enroll_quickly(host.thumbprint, host.name)
        with running_collector(ledger) as collector:
            for host in hosts:
                assert ship(host, CollectorClient(collector.url, host.key, 30), 2).shipped == 6
        code, document = verify(ledger)
        assert code == 0, document["problems"]
        summaries = {
            (i["host"], i["events"], i["heads_checked"]) for i in document["installations"]
        }
        assert summaries == {("alpha", 6, 3), ("beta", 6, 3), ("placeholder", 0, 0)}
        ledger.query(
            "UPDATE fleet_heads SET signature = decode(repeat('00', 64), 'hex') "
            "WHERE event_count = 4 AND installation = "
            "(SELECT installation FROM fleet_installations WHERE host_name = 'alpha')"
        )
        ledger.query(
            "DELETE FROM fleet_events WHERE seq = 5 AND installation = "
            "(SELECT installation FROM fleet_installations WHERE host_name = 'beta')"
        )
        code, document = verify(ledger)
        assert code == 4
        found = {(p["kind"], p.get("host")) for p in document["problems"]}
        assert ("fleet_bad_signature", "alpha") in found
        assert ("fleet_gap", "beta") in found
        assert {kind for kind, host in found if host == "alpha"} == {"fleet_bad_signature"}
