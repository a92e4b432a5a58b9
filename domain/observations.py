"""What a boot observed, as plain values.

These are the inputs of every policy (``domain.policies``). They are recorded in
the ledger exactly as observed, so replay can feed them back to a policy later.
Nothing here performs I/O: infra produces these values, the domain consumes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from recovery_ledger.domain.errors import UnknownProvenanceError

Provenance = Literal["desktop_managed", "user_created"]
PROVENANCES: Final[tuple[Provenance, ...]] = ("desktop_managed", "user_created")

# docs/contract.md section 2: the statuses the cloud may report; any other is unrecognized.
CLOUD_STATUSES: Final = ("active", "timed_out", "completed", "cancelled", "failed")

ErrorKind = Literal["timeout", "network", "malformed", "unrecognized_status"]
ERROR_KINDS: Final = ("timeout", "network", "malformed", "unrecognized_status")


def provenance_of(text: str) -> Provenance:
    """The provenance a host declared at registration (docs/contract.md section 4), or
    ``UnknownProvenanceError``."""
    for provenance in PROVENANCES:
        if text == provenance:
            return provenance
    raise UnknownProvenanceError(
        f"provenance must be one of {', '.join(PROVENANCES)}, not {text!r}"
    )


@dataclass(frozen=True)
class LivenessObservation:
    """Whether the runner process is alive, and why we think so.

    ``reason`` is a short machine word: ``running`` (pid exists, start time
    matches), ``no_such_process``, ``pid_reused`` (start time differs),
    ``zombie_process`` or ``access_denied`` (alive by rule, docs/contract.md section 4.1).
    """

    alive: bool
    reason: str
    observed_start_time: float | None = None


@dataclass(frozen=True)
class StatusAnswer:
    """One answer to ``GET /v1/loops/{id}/status``.

    ``http_status`` is None when no HTTP answer arrived (``error`` then says
    ``timeout`` or ``network``). ``status`` is the cloud's status word only for
    a well-formed 200 with a known status.
    """

    http_status: int | None
    status: str | None = None
    error: ErrorKind | None = None


@dataclass(frozen=True)
class HeartbeatAnswer:
    """The answer to the PoP heartbeat POST.

    ``revived`` is True only for a 200 with ``revived: true`` whose fresh token
    passed the contract's checks (well-formed JWT, jti matches, exp in future);
    a revived answer that fails them has ``error="malformed"`` and revived None.
    ``token_jti``/``token_expires_at`` describe the fresh token when revived.
    """

    http_status: int | None
    revived: bool | None = None
    error: ErrorKind | None = None
    token_jti: str | None = None
    token_expires_at: str | None = None
