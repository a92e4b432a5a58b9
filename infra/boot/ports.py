"""The small protocols the boot service receives; ``infra/boot/wiring.py`` plugs in
the real adapters, tests may plug in honest fakes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer


class Clock(Protocol):
    def now(self) -> datetime: ...


class LivenessProbe(Protocol):
    def probe(self, pid: int, recorded_start_time: float) -> LivenessObservation: ...


class HeartbeatResult(Protocol):
    """A heartbeat answer and, only when revived and well-formed, the fresh token."""

    @property
    def answer(self) -> HeartbeatAnswer: ...

    @property
    def fresh_token(self) -> str | None: ...


class Cloud(Protocol):
    def heartbeat_url(self, loop_id: str) -> str: ...

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer: ...

    async def post_heartbeat(
        self, loop_id: str, stale_token: str, stale_jti: str, proof_jwt: str, now: datetime
    ) -> HeartbeatResult: ...


class Proof(Protocol):
    @property
    def jwt(self) -> str: ...

    @property
    def jti(self) -> str: ...


class ProofSigner(Protocol):
    def sign_proof(self, htu: str, runner_token: str, now: int) -> Proof: ...


@dataclass(frozen=True)
class PopKey:
    """The managed key's availability for this boot: a signer, or why not."""

    signer: ProofSigner | None
    reason: str
    message: str = ""
