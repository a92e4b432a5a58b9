"""Honest in-memory fakes for the boot service's ports (``infra/boot/ports.py``): no file, no
socket, no process. Each keeps the promise of its port that the boot relies on: the ledger
commits a step's events all at once or not at all and refuses a stale version; the sealer's
blob never holds the token and opens nothing once its loop's key is shredded."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import reduce
from typing import Any
from uuid import UUID

import jwt

from recovery_ledger.domain.boot import Boot
from recovery_ledger.domain.loop import Loop, SealedToken, loop_aggregate_id
from recovery_ledger.domain.observations import (
    HeartbeatAnswer,
    LivenessObservation,
    Provenance,
    StatusAnswer,
)
from recovery_ledger.infra.errors import LedgerBusyError, TokenUnavailableError


def runner_token(jti: str | None = None, ttl_s: int = 3600) -> str:
    claims = {"jti": jti or uuid.uuid4().hex, "exp": int(time.time()) + ttl_s, "sub": "loop"}
    return jwt.encode(claims, "test-only-secret-not-the-clouds-key-" * 2, algorithm="HS256")


class InMemorySealer:
    """Seals by reference: the blob is a random handle, the token stays in this object."""

    def __init__(self) -> None:
        self._tokens: dict[tuple[UUID, str, bytes], str] = {}
        self._keys: set[UUID] = set()

    def seal(self, aggregate_id: UUID, jti: str, token: str) -> tuple[bytes, str]:
        self._keys.add(aggregate_id)
        handle = uuid.uuid4().bytes
        self._tokens[(aggregate_id, jti, handle)] = token
        return handle, f"fake:{aggregate_id}"

    def unseal(self, aggregate_id: UUID, jti: str, sealed: bytes) -> str:
        if aggregate_id not in self._keys:
            raise TokenUnavailableError("the loop's data key is gone")
        try:
            return self._tokens[(aggregate_id, jti, sealed)]
        except KeyError:
            raise TokenUnavailableError("sealed token does not open") from None

    def shred(self, aggregate_id: UUID) -> None:
        self._keys.discard(aggregate_id)
        for key in [key for key in self._tokens if key[0] == aggregate_id]:
            del self._tokens[key]

    def has_key(self, aggregate_id: UUID) -> bool:
        return aggregate_id in self._keys


class InMemoryLedger:
    """Events per aggregate, committed a transaction at a time; aggregates are rebuilt from
    their committed events on every read, so nothing uncommitted is ever seen."""

    def __init__(self) -> None:
        self.events: dict[UUID, list[Any]] = {}
        self.order: list[UUID] = []
        self.transactions: list[list[Any]] = []

    def save_boot_progress(self, *aggregates: Loop | Boot) -> None:
        pending = [event for aggregate in aggregates for event in aggregate.collect_events()]
        versions = {key: len(events) for key, events in self.events.items()}
        for event in pending:  # the library's optimistic concurrency: one writer per version
            expected = versions.get(event.originator_id, 0) + 1
            if event.originator_version != expected:
                raise LedgerBusyError("the ledger was changed by another writer during boot")
            versions[event.originator_id] = expected
        for event in pending:
            if event.originator_id not in self.events:
                self.events[event.originator_id] = []
                self.order.append(event.originator_id)
            self.events[event.originator_id].append(event)
        self.transactions.append(pending)

    def aggregate(self, aggregate_id: UUID) -> Any:
        return reduce(lambda state, event: event.mutate(state), self.events[aggregate_id], None)

    def loop(self, loop_id: str) -> Loop:
        loop: Loop = self.aggregate(loop_aggregate_id(loop_id))
        return loop

    def loops(self) -> list[Loop]:
        return [
            self.aggregate(key)
            for key in self.order
            if isinstance(self.events[key][0], Loop.Registered)
        ]

    def open_loops(self) -> list[Loop]:
        return [loop for loop in self.loops() if not loop.is_finalized]

    def committed_kinds(self, loop_id: str) -> list[str]:
        return [type(event).__name__ for event in self.events[loop_aggregate_id(loop_id)]]

    def register(
        self,
        sealer: InMemorySealer,
        loop_id: str,
        pid: int,
        provenance: Provenance = "desktop_managed",
        host_id: str = "host-a",
    ) -> str:
        """A loop as ``loop register`` records it; returns its runner token."""
        token = runner_token()
        loop = Loop(
            loop_id=loop_id, provenance=provenance, pid=pid, pid_start_time=1.0, host_id=host_id
        )
        jti = jwt.decode(token, options={"verify_signature": False})["jti"]
        sealed, key_id = sealer.seal(loop.id, jti, token)
        expires = datetime.now(UTC)
        loop.issue_token(SealedToken(jti, expires, "fp", sealed, key_id, "registered"))
        self.save_boot_progress(loop)
        return token


@dataclass
class FakeHeartbeatResult:
    answer: HeartbeatAnswer
    fresh_token: str | None = None


@dataclass
class FakeCloud:
    """Answers per loop from queues; records every call, and what the ledger had committed
    when each heartbeat was posted."""

    ledger: InMemoryLedger
    statuses: dict[str, list[StatusAnswer]] = field(default_factory=dict)
    heartbeats: dict[str, FakeHeartbeatResult] = field(default_factory=dict)
    hang_s: float = 0.0
    gets: dict[str, int] = field(default_factory=dict)
    posts: dict[str, int] = field(default_factory=dict)
    begun_before_post: dict[str, bool] = field(default_factory=dict)

    def heartbeat_url(self, loop_id: str) -> str:
        return f"http://127.0.0.1:1/v1/loops/{loop_id}/heartbeat"

    async def get_status(self, loop_id: str, runner_token: str) -> StatusAnswer:
        self.gets[loop_id] = self.gets.get(loop_id, 0) + 1
        if self.hang_s:
            await asyncio.sleep(self.hang_s)
        queue = self.statuses.get(loop_id) or [StatusAnswer(200, "active")]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def post_heartbeat(
        self, loop_id: str, stale_token: str, stale_jti: str, proof_jwt: str, now: datetime
    ) -> FakeHeartbeatResult:
        self.posts[loop_id] = self.posts.get(loop_id, 0) + 1
        self.begun_before_post[loop_id] = (
            self.ledger.committed_kinds(loop_id)[-1] == "PopHeartbeatBegun"
        )
        return self.heartbeats.get(loop_id, FakeHeartbeatResult(HeartbeatAnswer(500)))


@dataclass
class FakeProbe:
    alive: dict[int, bool]

    def probe(self, pid: int, recorded_start_time: float) -> LivenessObservation:
        live = self.alive.get(pid, True)
        return LivenessObservation(live, "running" if live else "no_such_process")


@dataclass
class FakeProof:
    jwt: str
    jti: str


class FakeSigner:
    def __init__(self) -> None:
        self._ids = itertools.count()

    def sign_proof(self, htu: str, runner_token: str, now: int) -> FakeProof:
        return FakeProof("header.payload.signature", f"proof-{next(self._ids)}")


class SystemTimeClock:
    def now(self) -> datetime:
        return datetime.now(UTC)
