"""A desktop installation held in memory, for tests that need many of them: real Loop
events (encoded as the ledger stores them), the hash chain, and checkpoints signed with
its own Ed25519 ledger key. It serves ``ship`` as the real local ledger does
(``ShipSource``), so the real shipper and HTTP client run against the real collector."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from eventsourcing.persistence import Mapper, StoredEvent

from recovery_ledger.domain.loop import Loop, loop_aggregate_id
from recovery_ledger.infra.crypto.jwk import ed25519_public_jwk, jwk_thumbprint
from recovery_ledger.infra.fleet.protocol import ShippedEvent
from recovery_ledger.infra.store.chain import GENESIS, link
from recovery_ledger.infra.store.heads import Checkpoint, head_message
from recovery_ledger.infra.store.transcoder import OrjsonTranscoder

_TEMPLATE_LOOP = "TEMPLATE-LOOP-ID"


def _template() -> list[StoredEvent]:
    """One loop's life (registered, then finalized by the host), as stored bytes."""
    mapper: Mapper[UUID] = Mapper(transcoder=OrjsonTranscoder())
    loop = Loop(
        loop_id=_TEMPLATE_LOOP,
        provenance="desktop_managed",
        pid=4242,
        pid_start_time=1.0,
        host_id="template-host",
    )
    loop.finalize("done", boot_id=None, cloud_last_word=None, by="host")
    return [mapper.to_stored_event(event) for event in loop.collect_events()]


_EVENTS = _template()


class SimulatedHost:
    def __init__(self, name: str, loops: int, events_per_checkpoint: int = 2) -> None:
        self.name = name
        self.key = Ed25519PrivateKey.generate()
        self.thumbprint = jwk_thumbprint(ed25519_public_jwk(self.key.public_key()))
        self.shipped: list[ShippedEvent] = []
        self.links: list[bytes] = []
        self.checkpoints: list[Checkpoint] = []
        self.events_per_checkpoint = events_per_checkpoint
        for i in range(loops):
            self.add_loop(f"{name}-loop-{i}")

    def add_loop(self, loop_id: str) -> None:
        aggregate = loop_aggregate_id(loop_id)
        for template in _EVENTS:
            state = template.state.replace(_TEMPLATE_LOOP.encode(), loop_id.encode())
            state = state.replace(b"template-host", self.name.encode())
            stored = StoredEvent(aggregate, template.originator_version, template.topic, state)
            self._append(stored)

    def _append(self, stored: StoredEvent) -> None:
        previous = self.links[-1] if self.links else GENESIS
        self.links.append(
            link(
                previous,
                stored.originator_id,
                stored.originator_version,
                stored.topic,
                stored.state,
            )
        )
        self.shipped.append(ShippedEvent(len(self.shipped) + 1, stored))
        if len(self.shipped) % self.events_per_checkpoint == 0:
            self.checkpoints.append(self.sign(len(self.shipped), self.links[-1]))

    def sign(self, count: int, head: bytes, key: Any = None) -> Checkpoint:
        signed_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        message = head_message(count, count, head, signed_at)
        return Checkpoint(
            count, count, head, signed_at, "ed25519:sim", (key or self.key).sign(message)
        )

    # -- ShipSource ------------------------------------------------------------------

    def total(self) -> int:
        return len(self.shipped)

    def link_at(self, count: int) -> tuple[int, bytes] | None:
        if count == 0:
            return 0, GENESIS
        return (count, self.links[count - 1]) if count <= len(self.links) else None

    def heads(self) -> list[Checkpoint]:
        return list(self.checkpoints)

    def events(self, after_position: int, up_to_position: int) -> list[ShippedEvent]:
        return self.shipped[after_position:up_to_position]
