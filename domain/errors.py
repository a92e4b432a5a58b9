"""The domain's failures, under one root: ``DomainError``.

The command line maps them to exit codes in ``infra/cli/exit_codes.py`` and nowhere else."""

from __future__ import annotations


class DomainError(Exception):
    """Base class of every failure the domain raises; nothing was recorded."""


class LoopRefusal(DomainError):
    """The Loop aggregate refused a command: it can never happen under any policy."""


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


class BootAlreadyCompletedError(DomainError):
    """A boot completes once."""


class UnknownPolicyError(DomainError):
    """A policy name that is not one of ``domain.policies.POLICY_NAMES``."""


class UnknownProvenanceError(DomainError):
    """A provenance that is not one of ``domain.observations.PROVENANCES``."""


class MalformedTokenError(DomainError):
    """The text is not a well-formed runner JWT; the message names why, never the text."""
