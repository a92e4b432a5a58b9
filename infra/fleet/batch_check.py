"""What the collector can check of an upload before touching the database: the head's
signature with the enrolled key, and that the events chain from the stated starting point
to exactly that head. Returns each event's link, which the collector stores and compares
with what it already holds."""

from __future__ import annotations

from typing import Any

from eventsourcing.persistence import Mapper

from recovery_ledger.infra.fleet.protocol import Upload
from recovery_ledger.infra.fleet.refusals import Refusal
from recovery_ledger.infra.store.chain import link


def check_upload(upload: Upload, public_key: Any, mapper: Mapper[Any]) -> list[bytes]:
    if upload.head is not None:
        _check_signature(upload, public_key)
    if not upload.events:
        return []
    head = upload.head
    assert head is not None  # Upload.from_json refuses events without a head
    last = upload.events[-1]
    if head.event_count != upload.end_count or head.position != last.position:
        raise Refusal(
            "broken_chain",
            f"the signed head covers {head.event_count} events up to position {head.position}; "
            f"the upload ends at {upload.end_count} events, position {last.position} "
            "(events cut off or added)",
        )
    links: list[bytes] = []
    current, position = upload.after_head, 0
    for shipped in upload.events:
        if shipped.position <= position:
            raise Refusal("broken_chain", "the events are not in ledger order (reordered)")
        position = shipped.position
        event = shipped.stored
        current = link(
            current, event.originator_id, event.originator_version, event.topic, event.state
        )
        links.append(current)
    if current != head.head:
        raise Refusal(
            "broken_chain",
            "the events do not chain to the signed head (altered, reordered or cut)",
        )
    _check_decodes(upload, mapper)
    return links


def _check_signature(upload: Upload, public_key: Any) -> None:
    from cryptography.exceptions import InvalidSignature

    assert upload.head is not None
    try:
        public_key.verify(upload.head.signature, upload.head.message())
    except (InvalidSignature, ValueError):
        raise Refusal(
            "bad_signature", "the head is not signed by this installation's ledger key"
        ) from None


def _check_decodes(upload: Upload, mapper: Mapper[Any]) -> None:
    for shipped in upload.events:
        try:
            mapper.to_domain_event(shipped.stored)
        except Exception:  # an unknown topic or an undecodable state refuses the upload
            raise Refusal(
                "undecodable",
                f"the event at position {shipped.position} does not decode "
                f"({shipped.stored.topic!r})",
            ) from None
