"""The Boot aggregate: one run of ``recovery-ledger boot``.

Started before any loop is examined and completed after every outcome is
recorded, so a boot that died half-way stays visible forever as started but
not completed.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import Aggregate, event

from recovery_ledger.domain.errors import BootAlreadyCompletedError


class Boot(Aggregate):
    TOPIC = "rl:Boot@1"

    class Event(Aggregate.Event):
        TOPIC = "rl:Boot.Event@1"

    class Created(Aggregate.Created):
        TOPIC = "rl:Boot.Created@1"

    class Started(Aggregate.Created):
        """Version 2 (contract version 2) adds ``pop_key``: the managed key's state for
        this boot, ``{"configured", "usable", "reason", "thumbprint"}``. Events stored
        before it are read with ``pop_key`` None: that boot did not record it."""

        TOPIC = "rl:Boot.Started@1"
        class_version = 2
        boot_id: UUID
        policy: str
        host_id: str
        host_name: str
        app_version: str
        cloud_url: str
        loop_ids: list[str]
        pop_key: dict[str, Any] | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state["pop_key"] = None

    class Completed(Event):
        TOPIC = "rl:Boot.Completed@1"
        summary: dict[str, int]

    @staticmethod
    def create_id(boot_id: UUID) -> UUID:
        return boot_id

    @event(Started)
    def __init__(
        self,
        boot_id: UUID,
        policy: str,
        host_id: str,
        host_name: str,
        app_version: str,
        cloud_url: str,
        loop_ids: list[str],
        pop_key: dict[str, Any] | None = None,
    ) -> None:
        self.boot_id = boot_id
        self.policy = policy
        self.host_id = host_id
        self.host_name = host_name
        self.app_version = app_version
        self.cloud_url = cloud_url
        self.loop_ids = list(loop_ids)
        self.pop_key = pop_key
        self.summary: dict[str, Any] | None = None

    def complete(self, summary: dict[str, int]) -> None:
        if self.summary is not None:
            raise BootAlreadyCompletedError(f"boot {self.id} is already completed")
        self._completed(summary)

    @event(Completed)
    def _completed(self, summary: dict[str, int]) -> None:
        self.summary = dict(summary)
