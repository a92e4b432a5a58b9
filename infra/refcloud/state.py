"""What the reference cloud knows: loops, tokens, registered managed keys, and what it saw."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from recovery_ledger.infra.refcloud.dpop_verifier import JtiReplayCache
from recovery_ledger.infra.refcloud.faults import FaultBook
from recovery_ledger.infra.refcloud.runner_tokens import IssuedToken, TokenAuthority

STATUSES = ("active", "timed_out", "completed", "cancelled", "failed")


@dataclass
class CloudLoop:
    loop_id: str
    status: str = "active"
    revivable: bool = True
    deleted: bool = False
    valid_jtis: set[str] = field(default_factory=set)
    issued_jtis: set[str] = field(default_factory=set)


@dataclass
class LoopStats:
    status_gets: int = 0
    heartbeat_posts: int = 0
    revivals: int = 0
    last_heartbeat_error: str | None = None


class CloudState:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.loops: dict[str, CloudLoop] = {}
        self.keys: set[str] = set()
        self.stats: dict[str, LoopStats] = {}
        self.faults = FaultBook()
        self.authority = TokenAuthority()
        self.replay_cache = JtiReplayCache()

    def add_loop(self, loop_id: str, status: str = "active", revivable: bool = True) -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}")
        with self.lock:
            self.loops[loop_id] = CloudLoop(loop_id, status, revivable)

    def loop(self, loop_id: str) -> CloudLoop | None:
        with self.lock:
            return self.loops.get(loop_id)

    def issue_token(self, loop_id: str, ttl_s: int) -> IssuedToken:
        with self.lock:
            loop = self.loops[loop_id]
            issued = self.authority.issue(loop_id, ttl_s)
            loop.valid_jtis.add(issued.jti)
            loop.issued_jtis.add(issued.jti)
            return issued

    def revive(self, loop_id: str, ttl_s: int = 3600) -> IssuedToken:
        """A revival supersedes every earlier token of the loop."""
        with self.lock:
            loop = self.loops[loop_id]
            loop.valid_jtis.clear()
            self.stat(loop_id).revivals += 1
            return self.issue_token(loop_id, ttl_s)

    def stat(self, loop_id: str) -> LoopStats:
        with self.lock:
            return self.stats.setdefault(loop_id, LoopStats())

    def stats_view(self, loop_id: str) -> dict[str, Any]:
        return vars(self.stat(loop_id)).copy()
