"""Faults the reference cloud injects, per loop or for every loop, per endpoint."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

ENDPOINTS = ("status", "heartbeat", "both")


@dataclass
class Fault:
    """One fault. Several may be set; the newest matching one wins.

    ``status``: answer that HTTP status (3xx answers carry ``Location: redirect_to``);
    ``latency``: seconds to wait before answering (combines with any other kind);
    ``hang``: never answer in any useful time; ``drop``: close the connection unanswered;
    ``body``: answer 200 with this raw body; ``oversized_mb``: a 200 body of that size;
    ``revived_false``: heartbeat 200 ``{"revived": false}``; ``malformed``: a revived
    answer whose token is bad (``jti_mismatch``, ``expired``, ``not_jwt``, ``alg_none``,
    ``wrong_sub``, ``oversized_token`` of 60 KB);
    ``times``: only the next N matching requests (None: until cleared).
    """

    loop_id: str | None = None
    endpoint: str = "both"
    status: int | None = None
    latency: float = 0.0
    hang: bool = False
    drop: bool = False
    body: str | None = None
    oversized_mb: int = 0
    revived_false: bool = False
    malformed: str | None = None
    redirect_to: str = "http://127.0.0.1:9/elsewhere"
    times: int | None = None

    def matches(self, loop_id: str, endpoint: str) -> bool:
        return (self.loop_id is None or self.loop_id == loop_id) and self.endpoint in (
            endpoint,
            "both",
        )


@dataclass
class FaultBook:
    _faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        if fault.endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint must be one of {ENDPOINTS}")
        with self._lock:
            self._faults.append(fault)

    def clear(self, loop_id: str | None = None) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if loop_id is not None and f.loop_id != loop_id]

    def take(self, loop_id: str, endpoint: str) -> Fault | None:
        """The fault for this request, consuming one of its ``times``."""
        with self._lock:
            for fault in reversed(self._faults):
                if fault.matches(loop_id, endpoint):
                    if fault.times is not None:
                        fault.times -= 1
                        if fault.times <= 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def describe(self) -> list[dict[str, Any]]:
        with self._lock:
            return [vars(f).copy() for f in self._faults]
