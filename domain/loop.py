"""The Loop aggregate: a long-running job and everything every boot saw of it.

Each decorated method *is* an event, as in the eventsourcing library's examples: its
body checks the invariant (raising a named ``LoopRefusal``) and then changes the state,
so nothing is recorded when it raises. Three kinds of command stay outside a decorated
method, each in one line: ``finalize`` and ``observe_cloud`` may record two events, and a
command given a value object (a sealed token, an observation, an answer) or recording a
fact the aggregate holds (its pid, its token's jti, the proof's jti) unpacks it into the
event's fields.

Events carry what was observed, never a runner token: a token is only ever
present sealed (``sealed_token``), with its jti, expiry and SHA-256 fingerprint.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event
from eventsourcing.domain import Snapshot as AggregateSnapshot
from eventsourcing.utils import register_topic

from recovery_ledger.domain.errors import (
    HeartbeatAlreadyPostedError,
    HeartbeatNotBegunError,
    LoopAlreadyFinalizedError,
    NoRevivalInBootError,
    NoTokenError,
)
from recovery_ledger.domain.observations import (
    ErrorKind,
    HeartbeatAnswer,
    LivenessObservation,
    Provenance,
    StatusAnswer,
)
from recovery_ledger.domain.policies import Classification, ReattachMode, heartbeat_revived

# Never change: aggregate ids are derived from it, so old ledgers find their loops.
LOOP_ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://recovery-ledger.dev/ns/loop")

TokenSource = Literal["registered", "rotated", "revived"]
FinalizedBy = Literal["boot", "host"]


def loop_aggregate_id(loop_id: str) -> UUID:
    """The aggregate id of a loop: deterministic, so a lookup needs no index."""
    return uuid5(LOOP_ID_NAMESPACE, loop_id)


@dataclass(frozen=True)
class SealedToken:
    """A runner token as the ledger keeps it: never in plaintext."""

    jti: str
    expires_at: datetime
    fingerprint: str
    sealed_token: bytes
    key_id: str
    source: TokenSource


class Loop(Aggregate):
    TOPIC = "rl:Loop@1"

    class Event(Aggregate.Event):
        TOPIC = "rl:Loop.Event@1"

    class Created(Aggregate.Created):
        TOPIC = "rl:Loop.Created@1"

    class Registered(Aggregate.Created):
        TOPIC = "rl:Loop.Registered@1"
        loop_id: str
        provenance: Provenance
        pid: int
        pid_start_time: float
        host_id: str

    class TokenIssued(Event):
        TOPIC = "rl:Loop.TokenIssued@1"
        jti: str
        expires_at: datetime
        fingerprint: str
        sealed_token: bytes
        key_id: str
        source: TokenSource

    class RunnerObserved(Event):
        TOPIC = "rl:Loop.RunnerObserved@1"
        boot_id: UUID
        pid: int
        alive: bool
        reason: str
        observed_start_time: float | None

    class CloudAnswered(Event):
        TOPIC = "rl:Loop.CloudAnswered@1"
        boot_id: UUID
        attempt: int
        http_status: int | None
        status: str | None
        error: ErrorKind | None

    class JwtRejected(Event):
        TOPIC = "rl:Loop.JwtRejected@1"
        boot_id: UUID
        jti: str | None

    class Classified(Event):
        TOPIC = "rl:Loop.Classified@1"
        boot_id: UUID
        policy: str
        classification: Classification
        pop_available: bool
        pop_reason: str
        post_heartbeat: bool

    class PopHeartbeatBegun(Event):
        TOPIC = "rl:Loop.PopHeartbeatBegun@1"
        boot_id: UUID
        proof_jti: str
        url: str

    class PopHeartbeatPosted(Event):
        TOPIC = "rl:Loop.PopHeartbeatPosted@1"
        boot_id: UUID
        proof_jti: str
        http_status: int | None
        revived: bool | None
        error: ErrorKind | None

    class TokenRevived(Event):
        TOPIC = "rl:Loop.TokenRevived@1"
        boot_id: UUID
        jti: str
        expires_at: datetime
        fingerprint: str
        sealed_token: bytes
        key_id: str

    class Reattached(Event):
        TOPIC = "rl:Loop.Reattached@1"
        boot_id: UUID
        mode: ReattachMode

    class Finalized(Event):
        TOPIC = "rl:Loop.Finalized@1"
        boot_id: UUID | None
        reason: str
        cloud_last_word: str | None
        by: FinalizedBy

    class TokenCleared(Event):
        TOPIC = "rl:Loop.TokenCleared@1"
        boot_id: UUID | None
        jti: str
        key_id: str

    class Snapshot(AggregateSnapshot):
        """A loop's state at one version, in the types the ledger's transcoder writes (no
        dataclass, set or UUID key): a boot starts from it and reads only the events after,
        instead of a long-lived loop's whole history."""

        TOPIC = "rl:Loop.Snapshot@1"

        @classmethod
        def take(cls, aggregate: Any) -> Loop.Snapshot:
            taken = super().take(aggregate)
            state = dict(taken.state)
            token = state["token"]
            state["token"] = None if token is None else asdict(token)
            state["heartbeat_boots"] = [[k.hex, v] for k, v in state["heartbeat_boots"].items()]
            state["revived_boots"] = sorted(boot_id.hex for boot_id in state["revived_boots"])
            return cls(
                originator_id=taken.originator_id,
                originator_version=taken.originator_version,
                timestamp=taken.timestamp,
                topic=taken.topic,
                state=state,
            )

        def mutate(self, _: None) -> Loop:
            state = dict(self.state)
            token = state["token"]
            state["token"] = None if token is None else SealedToken(**token)
            state["heartbeat_boots"] = {UUID(k): v for k, v in state["heartbeat_boots"]}
            state["revived_boots"] = {UUID(boot_id) for boot_id in state["revived_boots"]}
            plain = AggregateSnapshot(
                originator_id=self.originator_id,
                originator_version=self.originator_version,
                timestamp=self.timestamp,
                topic=self.topic,
                state=state,
            )
            loop = plain.mutate(None)
            assert isinstance(loop, Loop)
            return loop

    @staticmethod
    def create_id(loop_id: str) -> UUID:
        return loop_aggregate_id(loop_id)

    @event(Registered)
    def __init__(
        self, loop_id: str, provenance: Provenance, pid: int, pid_start_time: float, host_id: str
    ) -> None:
        self.loop_id = loop_id
        self.provenance: Provenance = provenance
        self.pid = pid
        self.pid_start_time = pid_start_time
        self.host_id = host_id
        self.token: SealedToken | None = None
        self.finalize_reason: str | None = None
        self.heartbeat_boots: dict[UUID, str | None] = {}
        self.revived_boots: set[UUID] = set()

    # -- invariants --------------------------------------------------------------

    @property
    def is_finalized(self) -> bool:
        return self.finalize_reason is not None

    def _check_open(self) -> None:
        if self.is_finalized:
            raise LoopAlreadyFinalizedError(
                f"loop {self.loop_id!r} is already finalized ({self.finalize_reason})"
            )

    # -- tokens -------------------------------------------------------------------

    def issue_token(self, token: SealedToken) -> None:
        """Record a token obtained at registration or while running (refresh)."""
        t = token
        self._token_issued(t.jti, t.expires_at, t.fingerprint, t.sealed_token, t.key_id, t.source)

    @event(TokenIssued)
    def _token_issued(
        self,
        jti: str,
        expires_at: datetime,
        fingerprint: str,
        sealed_token: bytes,
        key_id: str,
        source: TokenSource,
    ) -> None:
        self._check_open()
        self.token = SealedToken(jti, expires_at, fingerprint, sealed_token, key_id, source)

    def clear_token(self, boot_id: UUID | None) -> None:
        if self.token is None:
            raise NoTokenError(f"loop {self.loop_id!r} holds no token")
        self._token_cleared(boot_id, self.token.jti, self.token.key_id)

    @event(TokenCleared)
    def _token_cleared(self, boot_id: UUID | None, jti: str, key_id: str) -> None:
        self.token = None

    # -- what a boot observed -------------------------------------------------------

    def observe_runner(self, boot_id: UUID, observation: LivenessObservation) -> None:
        o = observation
        self._runner_observed(boot_id, self.pid, o.alive, o.reason, o.observed_start_time)

    @event(RunnerObserved)
    def _runner_observed(
        self,
        boot_id: UUID,
        pid: int,
        alive: bool,
        reason: str,
        observed_start_time: float | None,
    ) -> None:
        self._check_open()

    def observe_cloud(self, boot_id: UUID, attempt: int, answer: StatusAnswer) -> None:
        """A 401 also records which token the cloud rejected."""
        self._cloud_answered(boot_id, attempt, answer.http_status, answer.status, answer.error)
        if answer.http_status == 401:
            self._jwt_rejected(boot_id, self.token.jti if self.token else None)

    @event(CloudAnswered)
    def _cloud_answered(
        self,
        boot_id: UUID,
        attempt: int,
        http_status: int | None,
        status: str | None,
        error: ErrorKind | None,
    ) -> None:
        self._check_open()

    @event(JwtRejected)
    def _jwt_rejected(self, boot_id: UUID, jti: str | None) -> None:
        self._check_open()

    @event(Classified)
    def classify(
        self,
        boot_id: UUID,
        policy: str,
        classification: Classification,
        *,
        pop_available: bool,
        pop_reason: str,
        post_heartbeat: bool,
    ) -> None:
        self._check_open()

    # -- the PoP heartbeat ---------------------------------------------------------------

    @event(PopHeartbeatBegun)
    def begin_heartbeat(self, boot_id: UUID, proof_jti: str, url: str) -> None:
        """Recorded (and committed) before the POST, so a crash leaves a trace."""
        self._check_open()
        if boot_id in self.heartbeat_boots:
            raise HeartbeatAlreadyPostedError(
                f"loop {self.loop_id!r} already had its heartbeat in boot {boot_id}"
            )
        self.heartbeat_boots[boot_id] = proof_jti

    def record_heartbeat_answer(self, boot_id: UUID, answer: HeartbeatAnswer) -> None:
        """The answer is recorded under the proof jti of the heartbeat begun in this boot."""
        proof_jti = self.heartbeat_boots.get(boot_id)
        if proof_jti is None:
            raise HeartbeatNotBegunError(
                f"loop {self.loop_id!r} has no heartbeat awaiting an answer in boot {boot_id}"
            )
        a = answer
        self._heartbeat_posted(boot_id, proof_jti, a.http_status, a.revived, a.error)

    @event(PopHeartbeatPosted)
    def _heartbeat_posted(
        self,
        boot_id: UUID,
        proof_jti: str,
        http_status: int | None,
        revived: bool | None,
        error: ErrorKind | None,
    ) -> None:
        self._check_open()
        # The answer consumes the begun heartbeat; a second answer has nothing to answer.
        self.heartbeat_boots[boot_id] = None
        if heartbeat_revived(HeartbeatAnswer(http_status, revived, error)):
            self.revived_boots.add(boot_id)

    def revive_token(self, boot_id: UUID, token: SealedToken) -> None:
        t = token
        self._token_revived(boot_id, t.jti, t.expires_at, t.fingerprint, t.sealed_token, t.key_id)

    @event(TokenRevived)
    def _token_revived(
        self,
        boot_id: UUID,
        jti: str,
        expires_at: datetime,
        fingerprint: str,
        sealed_token: bytes,
        key_id: str,
    ) -> None:
        self._check_open()
        if boot_id not in self.revived_boots:
            raise NoRevivalInBootError(
                f"loop {self.loop_id!r} had no revived heartbeat answer in boot {boot_id}"
            )
        self.revived_boots.discard(boot_id)
        self.token = SealedToken(jti, expires_at, fingerprint, sealed_token, key_id, "revived")

    # -- outcomes ------------------------------------------------------------------------

    @event(Reattached)
    def reattach(self, boot_id: UUID, mode: ReattachMode) -> None:
        self._check_open()

    def finalize(
        self,
        reason: str,
        *,
        boot_id: UUID | None,
        cloud_last_word: str | None,
        by: FinalizedBy,
    ) -> None:
        """Finalize once, ever; the token is cleared with it (it is never needed again)."""
        self._finalized(boot_id, reason, cloud_last_word, by)
        if self.token is not None:
            self.clear_token(boot_id)

    @event(Finalized)
    def _finalized(
        self, boot_id: UUID | None, reason: str, cloud_last_word: str | None, by: FinalizedBy
    ) -> None:
        self._check_open()
        self.finalize_reason = reason


# The library registers the explicit topics of an aggregate's events, not of its snapshot.
register_topic(Loop.Snapshot.TOPIC, Loop.Snapshot)
