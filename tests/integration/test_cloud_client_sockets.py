"""The cloud client over real sockets against the reference cloud: hangs and drops."""

from __future__ import annotations

import asyncio
import time

from recovery_ledger.domain.observations import StatusAnswer
from recovery_ledger.infra.cloud.client import CloudClient
from recovery_ledger.infra.refcloud import ReferenceCloud


def fetch(cloud: ReferenceCloud, token: str, read_timeout: float = 0.5) -> StatusAnswer:
    async def go() -> StatusAnswer:
        async with CloudClient(cloud.url, read_timeout=read_timeout) as client:
            return await client.get_status("L", token)

    return asyncio.run(go())


def test_a_hanging_answer_becomes_timeout_within_the_read_timeout() -> None:
    with ReferenceCloud() as cloud:
        cloud.add_loop("L")
        token = cloud.issue_token("L")
        cloud.inject_fault("L", endpoint="status", hang=True)
        started = time.monotonic()
        assert fetch(cloud, token) == StatusAnswer(None, error="timeout")
        assert time.monotonic() - started < 5  # generous; the hang is an hour


def test_a_dropped_connection_becomes_network() -> None:
    with ReferenceCloud() as cloud:
        cloud.add_loop("L")
        token = cloud.issue_token("L")
        cloud.inject_fault("L", endpoint="status", drop=True)
        assert fetch(cloud, token) == StatusAnswer(None, error="network")


def test_an_oversized_streamed_body_is_capped_over_a_real_socket() -> None:
    with ReferenceCloud() as cloud:
        cloud.add_loop("L")
        token = cloud.issue_token("L")
        cloud.inject_fault("L", endpoint="status", oversized_mb=200)
        assert fetch(cloud, token, read_timeout=5) == StatusAnswer(200, error="malformed")


def test_a_valid_token_reads_the_status_and_a_stale_one_is_rejected() -> None:
    with ReferenceCloud() as cloud:
        cloud.add_loop("L", status="timed_out")
        assert fetch(cloud, cloud.issue_token("L")) == StatusAnswer(200, status="timed_out")
        assert fetch(cloud, cloud.issue_token("L", ttl_s=-5)) == StatusAnswer(401)
