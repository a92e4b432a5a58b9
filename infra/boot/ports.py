"""The small protocols the boot service receives. ``infra/bootstrap.py`` plugs in the real
adapters (the ledger application, the token sealer, ``infra/boot/wiring.py``); the unit tests
plug in honest in-memory fakes (``tests/unit/boot_fakes.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import HeartbeatAnswer, LivenessObservation, StatusAnswer


class BootLedger(Protocol):
    """What a boot needs of the ledger: the open loops, and one transaction per step."""

    def open_loops(self) -> list[Loop]: ...

    def save_boot_progress(self, *aggregates: Loop | Boot) -> None:
        """Commit every pending event of these aggregates at once, or nothing."""


class Sealer(Protocol):
    """Runner tokens at rest: sealed per loop, and unrecoverable once the loop's key is shredded."""

    def seal(self, aggregate_id: UUID, jti: str, token: str) -> tuple[bytes, str]:
        """The sealed token and the id of the key that sealed it."""

    def unseal(self, aggregate_id: UUID, jti: str, sealed: bytes) -> str:
        """The token, or ``TokenUnavailableError`` when it cannot be opened any more."""

    def shred(self, aggregate_id: UUID) -> None:
        """Destroy the loop's key: every token it sealed becomes unrecoverable."""


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
    """The managed key's state for this boot (contract section 1): a signer, or why not.

    ``reason`` is one of ``available``, ``not_configured``, ``missing``, ``unreadable``,
    ``insecure_mode``, ``not_pem``, ``wrong_key_type``; ``message`` says it in one line
    with the fix."""

    signer: ProofSigner | None
    reason: str
    message: str = ""
    configured: bool = True
    thumbprint: str | None = None

    @property
    def usable(self) -> bool:
        return self.signer is not None

    def as_record(self) -> dict[str, object]:
        """What the ledger and ``boot --json`` say of it; never the key itself."""
        return {
            "configured": self.configured,
            "usable": self.usable,
            "reason": self.reason,
            "thumbprint": self.thumbprint,
        }
