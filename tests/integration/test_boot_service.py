"""The boot service on the real ledger (SQLite) and the real sealer, with fakes only for the
cloud and the probe: what the in-memory unit tests (tests/unit/test_boot_service.py) cannot
show, that "committed before the POST" holds for another connection and that shredding
removes the data key from the disk."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.infra.boot.ports import PopKey
from recovery_ledger.infra.boot.service import BootResult, BootService, BootSettings
from recovery_ledger.infra.bootstrap import ledger_app
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.store.app import LedgerApp
from recovery_ledger.infra.store.location import LedgerLocation, resolve_location

from ..unit.boot_fakes import (
    FakeHeartbeatResult,
    FakeProbe,
    FakeSigner,
    SystemTimeClock,
    runner_token,
)


@dataclass
class SecondConnectionCloud:
    """Answers 401, then the given heartbeat; at the POST, reads the ledger through a
    connection of its own: is the heartbeat committed as begun?"""

    location: LedgerLocation
    keys: KeyStore
    heartbeat: FakeHeartbeatResult
    begun_before_post: bool | None = None

    def heartbeat_url(self, loop_id: str) -> str:
        return f"http://127.0.0.1:1/v1/loops/{loop_id}/heartbeat"

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer:
        return StatusAnswer(401)

    async def post_heartbeat(
        self, loop_id: str, stale_token: str, stale_jti: str, proof_jwt: str, now: datetime
    ) -> FakeHeartbeatResult:
        reader = ledger_app(self.location, self.keys)
        try:
            events = list(reader.events.get(reader.get_loop(loop_id).id))
        finally:
            reader.close()
        self.begun_before_post = isinstance(events[-1], Loop.PopHeartbeatBegun)
        return self.heartbeat


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LedgerApp]:
    location = resolve_location(str(tmp_path / "ledger.sqlite"))
    app = ledger_app(location, KeyStore(tmp_path / "keys"), create=True)
    yield app
    app.close()


def register(app: LedgerApp, loop_id: str, pid: int) -> str:
    token = runner_token()
    app.register_loop(
        loop_id=loop_id,
        provenance="desktop_managed",
        pid=pid,
        pid_start_time=1.0,
        host_id="host-a",
        token=token,
    )
    return token


def boot(app: LedgerApp, cloud: SecondConnectionCloud, alive: dict[int, bool]) -> BootResult:
    settings = BootSettings(
        policy="v3-pop-guarded",
        host_id="host-a",
        host_name="test",
        app_version="t",
        cloud_url="http://127.0.0.1:1",
    )
    service = BootService(
        app,
        settings,
        sealer=app.sealer,
        cloud=cloud,
        probe=FakeProbe(alive),
        pop_key=PopKey(FakeSigner(), "available"),
        clock=SystemTimeClock(),
    )
    return asyncio.run(service.run())


def test_the_heartbeat_is_committed_as_begun_before_the_post_and_the_fresh_token_sealed(
    app: LedgerApp,
) -> None:
    stale = register(app, "L1", pid=101)
    fresh = runner_token(jti="fresh-jti")
    cloud = SecondConnectionCloud(
        app.location, app.keys, FakeHeartbeatResult(HeartbeatAnswer(200, True), fresh)
    )

    boot(app, cloud, {101: True})

    assert cloud.begun_before_post is True
    assert app.current_token("L1") == fresh != stale
    token = app.get_loop("L1").token
    assert token is not None and token.source == "revived"
    assert fresh.encode() not in token.sealed_token


def test_a_finalized_loops_data_key_is_gone_from_the_key_directory(app: LedgerApp) -> None:
    register(app, "L1", pid=101)
    aggregate_id = app.get_loop("L1").id
    assert app.keys.has_data_key(aggregate_id)
    cloud = SecondConnectionCloud(app.location, app.keys, FakeHeartbeatResult(HeartbeatAnswer(500)))

    boot(app, cloud, {101: False})

    assert app.get_loop("L1").finalize_reason == "dead_pid"
    assert not app.keys.has_data_key(aggregate_id)
    assert cloud.begun_before_post is None  # a dead runner is never revived: no POST
