"""Boots written straight through the aggregates, as the boot service records them, for tests
and benchmarks that need a loop's history without running boots (``bench/`` imports it too).
The caller saves what they return."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID, uuid4

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop, SealedToken
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer

ALIVE = LivenessObservation(True, "running", 1.0)
# A well-formed runner JWT (HS256 over a throwaway key) that never expires.
NEVER_EXPIRING_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJqdGkiOiJiZW5jaCIsImV4cCI6NDAwMDAwMDAwMH0."
    "t6Ksf4iSs444dj0Agi4uQjwiWq0azM0bblmYcAOQJhI"
)


def register_loops(app: Any, count: int, host_id: str = "host") -> list[Loop]:
    """``count`` desktop-managed loops registered in ``app`` (a ``LedgerApp``), one save each."""
    return [
        app.register_loop(
            loop_id=f"loop-{i}",
            provenance="desktop_managed",
            pid=1,
            pid_start_time=1.0,
            host_id=host_id,
            token=NEVER_EXPIRING_TOKEN,
        )
        for i in range(count)
    ]


def quiet_boot(loops: Sequence[Loop], host_id: str = "host") -> Boot:
    """A completed boot in which every runner is alive and the cloud says ``active``: each
    loop observed, answered, classified and reattached (four events a loop)."""
    boot_id = uuid4()
    boot = Boot(
        boot_id=boot_id,
        policy="v4-key-guarded",
        host_id=host_id,
        host_name=host_id,
        app_version="test",
        cloud_url="https://cloud.example",
        loop_ids=[loop.loop_id for loop in loops],
    )
    for loop in loops:
        loop.observe_runner(boot_id, ALIVE)
        loop.observe_cloud(boot_id, 1, StatusAnswer(200, "active"))
        loop.classify(
            boot_id,
            "v4-key-guarded",
            "active",
            pop_available=True,
            pop_reason="available",
            post_heartbeat=False,
        )
        loop.reattach(boot_id, "confirmed")
    boot.complete({"examined": len(loops), "reattached": len(loops)})
    return boot


def revived_boot(loop: Loop, proof_jti: str, fresh: SealedToken) -> UUID:
    """A boot in which the cloud rejects the loop's token (401), a PoP heartbeat revives it
    and the fresh token is adopted: the richest history one loop gets in a boot."""
    boot_id = uuid4()
    loop.observe_runner(boot_id, ALIVE)
    loop.observe_cloud(boot_id, 1, StatusAnswer(401))
    loop.classify(
        boot_id,
        "v4-key-guarded",
        "pop_fallback",
        pop_available=True,
        pop_reason="available",
        post_heartbeat=True,
    )
    loop.begin_heartbeat(boot_id, proof_jti, "https://cloud.example/hb")
    loop.record_heartbeat_answer(boot_id, HeartbeatAnswer(200, revived=True))
    loop.revive_token(boot_id, fresh)
    loop.reattach(boot_id, "revived")
    return boot_id
