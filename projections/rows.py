"""Read-model rows, and how each event changes them. Pure: no SQL, no I/O.

Three row kinds, one table each (``infra/projection_store``):
- ``LoopRow``: a loop's current state and its current token (jti, expiry, where it came
  from, how many revivals, cleared).
- ``DecisionRow``: one loop in one boot: what was observed, classified, posted, decided,
  with the ledger positions of the events that prove it.
- ``BootRow``: one boot: who ran it, with which policy, when, and its summary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop
from recovery_ledger.domain.observations import ErrorKind, Provenance


@dataclass(frozen=True)
class Position:
    """Where an event is: aggregate, version, and its place in the ledger."""

    aggregate_id: str
    version: int
    notification_id: int

    def ref(self) -> str:
        return f"{self.aggregate_id}/{self.version}@{self.notification_id}"


@dataclass(frozen=True)
class LoopRow:
    loop_id: str
    aggregate_id: str
    provenance: Provenance
    pid: int
    host_id: str
    registered_at: datetime
    updated_at: datetime
    state: str = "open"
    finalize_reason: str | None = None
    finalized_by: str | None = None
    token_jti: str | None = None
    token_expires_at: datetime | None = None
    token_source: str | None = None
    revivals: int = 0
    token_cleared: bool = False


@dataclass(frozen=True)
class DecisionRow:
    boot_id: str
    loop_id: str
    aggregate_id: str
    observed_at: datetime
    alive: bool | None = None
    liveness_reason: str | None = None
    status_attempts: int = 0
    status_http: int | None = None
    status_word: str | None = None
    status_error: ErrorKind | None = None
    rejected_jti: str | None = None
    policy: str | None = None
    classification: str | None = None
    pop_available: bool | None = None
    pop_reason: str | None = None
    post_heartbeat: bool | None = None
    heartbeat_begun: bool = False
    proof_jti: str | None = None
    heartbeat_answered: bool = False
    heartbeat_http: int | None = None
    heartbeat_revived: bool | None = None
    heartbeat_error: ErrorKind | None = None
    token_revived: bool = False
    outcome: str | None = None
    reattach_mode: str | None = None
    finalize_reason: str | None = None
    cloud_last_word: str | None = None
    decided_at: datetime | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class BootRow:
    boot_id: str
    policy: str
    host_id: str
    host_name: str
    app_version: str
    cloud_url: str
    started_at: datetime
    loops_planned: int
    completed_at: datetime | None = None
    examined: int = 0
    reattached: int = 0
    revived: int = 0
    finalized: int = 0
    heartbeats_posted: int = 0


R = TypeVar("R")


def _evolve(row: R, **changes: Any) -> R:
    """``dataclasses.replace`` without re-running ``__init__`` over every field: rebuilding
    the projections of a million events spent most of its time there. Only this module
    calls it, with field names the tests exercise."""
    new: R = object.__new__(type(row))
    new.__dict__.update(row.__dict__, **changes)
    return new


def is_loop_event(event: object) -> bool:
    # The library re-derives every event class an aggregate declares under its ``Event``.
    return isinstance(event, Loop.Event)


# -- loops -------------------------------------------------------------------------------------


def loop_after(row: LoopRow | None, event: DomainEventProtocol[UUID]) -> LoopRow | None:
    """The loop row after ``event`` (a Loop event); None only before registration."""
    if isinstance(event, Loop.Registered):
        return LoopRow(
            loop_id=event.loop_id,
            aggregate_id=str(event.originator_id),
            provenance=event.provenance,
            pid=event.pid,
            host_id=event.host_id,
            registered_at=event.timestamp,
            updated_at=event.timestamp,
        )
    if row is None:
        return None
    if isinstance(event, Loop.TokenIssued):
        return _evolve(
            row,
            updated_at=event.timestamp,
            token_jti=event.jti,
            token_expires_at=event.expires_at,
            token_source="issued" if event.source == "registered" else "rotated",
            token_cleared=False,
        )
    if isinstance(event, Loop.TokenRevived):
        return _evolve(
            row,
            updated_at=event.timestamp,
            token_jti=event.jti,
            token_expires_at=event.expires_at,
            token_source="revived",  # noqa: S106 - a provenance word, not a secret
            revivals=row.revivals + 1,
        )
    if isinstance(event, Loop.TokenCleared):
        return _evolve(
            row,
            updated_at=event.timestamp,
            token_jti=None,
            token_expires_at=None,
            token_cleared=True,
        )
    if isinstance(event, Loop.Finalized):
        return _evolve(
            row,
            updated_at=event.timestamp,
            state="finalized",
            finalize_reason=event.reason,
            finalized_by=event.by,
        )
    assert isinstance(event, Loop.Event)  # every other Loop event only moves the time on
    return _evolve(row, updated_at=event.timestamp)


# -- decisions ----------------------------------------------------------------------------------

BootTimeEvent = (
    Loop.RunnerObserved
    | Loop.CloudAnswered
    | Loop.JwtRejected
    | Loop.Classified
    | Loop.PopHeartbeatBegun
    | Loop.PopHeartbeatPosted
    | Loop.TokenRevived
    | Loop.Reattached
    | Loop.Finalized
    | Loop.TokenCleared
)
_BOOT_TIME_EVENTS: tuple[type[BootTimeEvent], ...] = (
    Loop.RunnerObserved,
    Loop.CloudAnswered,
    Loop.JwtRejected,
    Loop.Classified,
    Loop.PopHeartbeatBegun,
    Loop.PopHeartbeatPosted,
    Loop.TokenRevived,
    Loop.Reattached,
    Loop.Finalized,
    Loop.TokenCleared,
)


def decision_key(event: DomainEventProtocol[UUID], aggregate_id: str) -> tuple[str, str] | None:
    """(boot_id, aggregate_id) of a boot-time Loop event; None for any other event."""
    if not isinstance(event, _BOOT_TIME_EVENTS) or event.boot_id is None:
        return None
    return str(event.boot_id), aggregate_id


def decision_after(
    row: DecisionRow | None, event: BootTimeEvent, loop_id: str, position: Position
) -> DecisionRow:
    """The decision row after a boot-time Loop event (``decision_key`` is not None)."""
    if row is None:
        row = DecisionRow(
            boot_id=str(event.boot_id),
            loop_id=loop_id,
            aggregate_id=position.aggregate_id,
            observed_at=event.timestamp,
        )
    kind = type(event)
    evidence = (*row.evidence, f"{kind.__name__}:{position.ref()}")
    changes = _DECISION_CHANGES.get(kind)
    return _evolve(row, evidence=evidence, **(changes(event, row) if changes else {}))


def _runner(e: Loop.RunnerObserved, row: DecisionRow) -> dict[str, object]:
    return {"alive": e.alive, "liveness_reason": e.reason}


def _cloud(e: Loop.CloudAnswered, row: DecisionRow) -> dict[str, object]:
    return {
        "status_attempts": row.status_attempts + 1,
        "status_http": e.http_status,
        "status_word": e.status,
        "status_error": e.error,
    }


def _rejected(e: Loop.JwtRejected, row: DecisionRow) -> dict[str, object]:
    return {"rejected_jti": e.jti}


def _classified(e: Loop.Classified, row: DecisionRow) -> dict[str, object]:
    return {
        "policy": e.policy,
        "classification": e.classification,
        "pop_available": e.pop_available,
        "pop_reason": e.pop_reason,
        "post_heartbeat": e.post_heartbeat,
    }


def _begun(e: Loop.PopHeartbeatBegun, row: DecisionRow) -> dict[str, object]:
    return {"heartbeat_begun": True, "proof_jti": e.proof_jti}


def _posted(e: Loop.PopHeartbeatPosted, row: DecisionRow) -> dict[str, object]:
    return {
        "heartbeat_answered": True,
        "heartbeat_http": e.http_status,
        "heartbeat_revived": e.revived,
        "heartbeat_error": e.error,
    }


def _revived(e: Loop.TokenRevived, row: DecisionRow) -> dict[str, object]:
    return {"token_revived": True}


def _reattached(e: Loop.Reattached, row: DecisionRow) -> dict[str, object]:
    return {"outcome": "reattached", "reattach_mode": e.mode, "decided_at": e.timestamp}


def _finalized(e: Loop.Finalized, row: DecisionRow) -> dict[str, object]:
    return {
        "outcome": "finalized",
        "finalize_reason": e.reason,
        "cloud_last_word": e.cloud_last_word,
        "decided_at": e.timestamp,
    }


# Each function reads only the event class it is registered under (``type(event)``, so the
# lookup is one dict access per event in a rebuild of a million); Any is that contract.
_DECISION_CHANGES: dict[type[BootTimeEvent], Callable[[Any, DecisionRow], dict[str, object]]] = {
    Loop.RunnerObserved: _runner,
    Loop.CloudAnswered: _cloud,
    Loop.JwtRejected: _rejected,
    Loop.Classified: _classified,
    Loop.PopHeartbeatBegun: _begun,
    Loop.PopHeartbeatPosted: _posted,
    Loop.TokenRevived: _revived,
    Loop.Reattached: _reattached,
    Loop.Finalized: _finalized,
}


# -- boots --------------------------------------------------------------------------------------


def boot_after(row: BootRow | None, event: DomainEventProtocol[UUID]) -> BootRow | None:
    if isinstance(event, Boot.Started):
        return BootRow(
            boot_id=str(event.boot_id),
            policy=event.policy,
            host_id=event.host_id,
            host_name=event.host_name,
            app_version=event.app_version,
            cloud_url=event.cloud_url,
            started_at=event.timestamp,
            loops_planned=len(event.loop_ids),
        )
    if row is None or not isinstance(event, Boot.Completed):
        return row
    summary = event.summary
    return _evolve(
        row,
        completed_at=event.timestamp,
        examined=summary.get("examined", 0),
        reattached=summary.get("reattached", 0),
        revived=summary.get("revived", 0),
        finalized=summary.get("finalized", 0),
        heartbeats_posted=summary.get("heartbeats_posted", 0),
    )
