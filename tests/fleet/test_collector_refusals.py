"""The collector verifies before it stores: every kind of bad upload is refused whole, with
nothing of it stored; a retried or overlapping upload stores only what is new."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import httpx
import orjson
import pytest

from recovery_ledger.infra.errors import UploadRefusedError
from recovery_ledger.infra.fleet.client import UPLOADS_PATH, CollectorClient
from recovery_ledger.infra.fleet.protocol import Upload
from recovery_ledger.infra.fleet.request_auth import sign_request
from recovery_ledger.infra.fleet.shipper import ship

from .collector_process import (
    Fleet,
    serving_collector,
)
from .simulated_host import SimulatedHost

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    with serving_collector(tmp_path_factory.mktemp("fleet")) as fleet:
        yield fleet


_names = iter(range(10_000))


@pytest.fixture
def host(fleet: Fleet) -> SimulatedHost:
    ledger, _ = fleet
    host = SimulatedHost(f"host-{next(_names)}", loops=4)  # 8 events, a head every 2
    ledger.enroll_quickly(host.thumbprint, host.name)
    return host


def client(fleet: Fleet, host: SimulatedHost, key: object = None) -> CollectorClient:
    return CollectorClient(fleet[1].url, key or host.key, 30)


def first_batch(host: SimulatedHost, end: int = 4) -> Upload:
    head = next(c for c in host.checkpoints if c.event_count == end)
    return Upload(0, bytes(32), tuple(host.shipped[:end]), head, False, host.total())


def refused(
    fleet: Fleet,
    host: SimulatedHost,
    upload: Upload,
    reason: str,
    key: object = None,
) -> None:
    ledger, _ = fleet
    before = ledger.stored_events()
    with pytest.raises(UploadRefusedError, match=rf"\({reason}\)"):
        client(fleet, host, key).upload(upload)
    assert ledger.stored_events() == before
    assert ledger.acked(host.name) == 0 or reason in ("rolled_back", "replayed", "gap")
    rows = ledger.query(
        "SELECT r.reason FROM fleet_refusals r JOIN fleet_installations i USING (installation) "
        "WHERE i.host_name = %s",
        host.name,
    )
    assert (reason,) in rows or reason == "not_enrolled"


def test_an_edited_event_is_refused_whole(fleet: Fleet, host: SimulatedHost) -> None:
    upload = first_batch(host)
    third = upload.events[2]
    edited = dataclasses.replace(
        third,
        stored=dataclasses.replace(
            third.stored, state=third.stored.state.replace(b"desktop_managed", b"user_created_x")
        ),
    )
    refused(
        fleet,
        host,
        dataclasses.replace(upload, events=(*upload.events[:2], edited, upload.events[3])),
        "broken_chain",
    )


def test_reordered_events_are_refused_whole(fleet: Fleet, host: SimulatedHost) -> None:
    upload = first_batch(host)
    events = upload.events
    refused(
        fleet,
        host,
        dataclasses.replace(upload, events=(events[0], events[2], events[1], events[3])),
        "broken_chain",
    )


def test_a_truncated_upload_is_refused_whole(fleet: Fleet, host: SimulatedHost) -> None:
    upload = first_batch(host)
    refused(fleet, host, dataclasses.replace(upload, events=upload.events[:3]), "broken_chain")
    refused(
        fleet,
        host,
        dataclasses.replace(upload, events=(*upload.events[:1], *upload.events[2:])),
        "broken_chain",
    )


def test_a_rechained_forgery_without_the_key_is_refused(fleet: Fleet, host: SimulatedHost) -> None:
    """An attacker who edits an event and recomputes every link (they are unkeyed) still
    cannot sign the head with the installation's key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    forger = SimulatedHost("forger", loops=2)
    upload = first_batch(forger)
    head = forger.sign(4, forger.links[3], key=Ed25519PrivateKey.generate())
    refused(fleet, host, dataclasses.replace(upload, head=head), "bad_signature")


def test_an_installation_that_is_not_enrolled_is_refused(fleet: Fleet) -> None:
    stranger = SimulatedHost("stranger", loops=2)
    refused(fleet, stranger, first_batch(stranger), "not_enrolled")


def test_a_request_signed_with_a_foreign_key_is_refused(fleet: Fleet, host: SimulatedHost) -> None:
    """The request proves possession of a key: another installation's key names another
    installation, whatever the upload inside says."""
    other = SimulatedHost("other", loops=1)
    refused(fleet, other, first_batch(host), "not_enrolled")
    fleet[0].enroll_quickly(other.thumbprint, other.name)
    refused(fleet, other, first_batch(host), "bad_signature")
    assert fleet[0].acked(other.name) == 0


def test_a_replayed_request_is_refused(fleet: Fleet, host: SimulatedHost) -> None:
    body = orjson.dumps(first_batch(host).to_json())
    headers = {"Authorization": sign_request(host.key, "POST", UPLOADS_PATH, body)}
    url = fleet[1].url + UPLOADS_PATH
    assert httpx.post(url, content=body, headers=headers).status_code == 200
    stored = fleet[0].stored_events()
    again = httpx.post(url, content=body, headers=headers)
    assert again.status_code == 401 and again.json()["refused"] == "replayed"
    assert fleet[0].stored_events() == stored and fleet[0].acked(host.name) == 4


def test_a_body_swapped_under_a_signature_is_refused(fleet: Fleet, host: SimulatedHost) -> None:
    signed_for = orjson.dumps(first_batch(host, 2).to_json())
    sent = orjson.dumps(first_batch(host, 4).to_json())
    headers = {"Authorization": sign_request(host.key, "POST", UPLOADS_PATH, signed_for)}
    answer = httpx.post(fleet[1].url + UPLOADS_PATH, content=sent, headers=headers)
    assert answer.status_code == 401 and answer.json()["refused"] == "bad_request_signature"
    assert fleet[0].acked(host.name) == 0


def test_an_upload_past_what_was_acknowledged_is_refused(fleet: Fleet, host: SimulatedHost) -> None:
    head = next(c for c in host.checkpoints if c.event_count == 6)
    gap = Upload(4, host.links[3], tuple(host.shipped[4:6]), head, False, host.total())
    refused(fleet, host, gap, "gap")


def test_a_retried_or_overlapping_upload_stores_only_what_is_new(
    fleet: Fleet, host: SimulatedHost
) -> None:
    ledger, _ = fleet
    before = ledger.stored_events()
    assert client(fleet, host).upload(first_batch(host, 4)).stored == 4
    again = client(fleet, host).upload(first_batch(host, 4))  # the acknowledgement was lost
    assert (again.stored, again.count) == (0, 4)
    overlapping = client(fleet, host).upload(first_batch(host, 8))
    assert (overlapping.stored, overlapping.count) == (4, 8)
    assert ledger.stored_events() == before + 8
    assert ledger.query(
        "SELECT array_agg(seq ORDER BY seq) FROM fleet_events JOIN fleet_installations "
        "USING (installation) WHERE host_name = %s",
        host.name,
    ) == [(list(range(1, 9)),)]


def test_a_ledger_restored_behind_what_was_acknowledged_is_refused(
    fleet: Fleet, host: SimulatedHost
) -> None:
    """The collector is the witness a desktop cannot be for itself: an older copy of the
    ledger, restored with its keys, verifies on the desktop but not against the collector."""
    assert ship(host, client(fleet, host), 1000).shipped == 8
    restored = SimulatedHost(host.name, loops=0)
    restored.key, restored.thumbprint = host.key, host.thumbprint
    restored.shipped, restored.links = host.shipped[:4], host.links[:4]
    restored.checkpoints = [c for c in host.checkpoints if c.event_count <= 4]
    with pytest.raises(UploadRefusedError, match="rolled_back"):
        ship(restored, client(fleet, host), 1000)
    restored.add_loop("written-after-the-restore")  # and then it goes on writing
    restored.add_loop("and-more")
    with pytest.raises(UploadRefusedError, match="rolled_back"):
        ship(restored, client(fleet, host), 1000)
    assert fleet[0].acked(host.name) == 8
    reasons = fleet[0].query(
        "SELECT reason FROM fleet_refusals JOIN fleet_installations USING (installation) "
        "WHERE host_name = %s",
        host.name,
    )
    assert reasons == [("rolled_back",), ("rolled_back",)]


def test_the_metrics_count_refusals_by_reason_and_show_each_host(
    fleet: Fleet, host: SimulatedHost
) -> None:
    upload = first_batch(host)
    refused(fleet, host, dataclasses.replace(upload, events=upload.events[:3]), "broken_chain")
    text = httpx.get(fleet[1].url + "/metrics").text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith('recovery_ledger_collector_refusals_total{reason="broken_chain"}')
    )
    assert float(line.split()[-1]) >= 1
    assert f'recovery_ledger_collector_host_lag_events{{host="{host.name}"}}' in text
    assert httpx.get(fleet[1].url + "/healthz").json() == {"status": "ok"}
