"""Named refusals of the Loop aggregate: things that can never happen under any policy."""

from __future__ import annotations


class LoopRefusal(Exception):
    """Base class: the aggregate refused a command; nothing was recorded."""


class LoopAlreadyFinalizedError(LoopRefusal):
    """A finalized loop takes no further boot event, token, or finalization."""


class HeartbeatAlreadyPostedError(LoopRefusal):
    """The PoP fallback is consumed once: one heartbeat per loop per boot."""


class HeartbeatNotBegunError(LoopRefusal):
    """A heartbeat answer must follow the heartbeat begun in the same boot."""


class NoRevivalInBootError(LoopRefusal):
    """A token may only be revived by a revived heartbeat answer in the same boot."""


class NoTokenError(LoopRefusal):
    """The loop holds no token (it was cleared)."""
