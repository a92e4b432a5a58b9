"""The reference cloud over real sockets: the contract's answers and its PoP checks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from recovery_ledger.infra.crypto.pop_signer import ManagedKey, load_managed_key
from recovery_ledger.infra.refcloud import ReferenceCloud
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key


@pytest.fixture
def cloud() -> Iterator[ReferenceCloud]:
    with ReferenceCloud() as running:
        yield running


@pytest.fixture
def key(tmp_path: Path) -> ManagedKey:
    path = tmp_path / "managed.pem"
    write_managed_key(path)
    loaded = load_managed_key(path)
    assert isinstance(loaded, ManagedKey)
    return loaded


def heartbeat(
    cloud: ReferenceCloud, loop_id: str, stale: str, proof: str, runner_jti: str | None = None
) -> httpx.Response:
    body = {
        "loop_id": loop_id,
        "reason": "boot_recovery",
        "runner_jti": runner_jti or cloud.jti_of(stale),
    }
    return httpx.post(
        f"{cloud.url}/v1/loops/{loop_id}/heartbeat",
        content=json.dumps(body),
        headers={"Authorization": f"DPoP {stale}", "DPoP": proof},
    )


def test_a_valid_proof_revives_an_active_loop_with_a_fresh_token(
    cloud: ReferenceCloud, key: ManagedKey
) -> None:
    cloud.add_loop("L")
    cloud.register_key(key.jwk)
    stale = cloud.issue_token("L", ttl_s=-60)
    url = f"{cloud.url}/v1/loops/L/heartbeat"
    answer = heartbeat(cloud, "L", stale, key.sign_proof(url, stale, int(time.time())).jwt)
    assert answer.status_code == 200
    document = answer.json()
    assert document["revived"] is True
    assert cloud.jti_of(document["token"]) == document["jti"]
    fresh_ok = httpx.get(
        f"{cloud.url}/v1/loops/L/status", headers={"Authorization": f"Bearer {document['token']}"}
    )
    assert fresh_ok.status_code == 200
    assert cloud.stats("L")["revivals"] == 1


def test_a_loop_that_is_not_active_is_not_revived(cloud: ReferenceCloud, key: ManagedKey) -> None:
    cloud.add_loop("L", status="completed")
    cloud.register_key(key.jwk)
    stale = cloud.issue_token("L", ttl_s=-60)
    url = f"{cloud.url}/v1/loops/L/heartbeat"
    answer = heartbeat(cloud, "L", stale, key.sign_proof(url, stale, int(time.time())).jwt)
    assert answer.json() == {"revived": False}


@pytest.mark.parametrize(
    "problem",
    [
        "unregistered_key",
        "replay",
        "wrong_htu",
        "wrong_ath",
        "other_loops_token",
        "wrong_runner_jti",
    ],
)
def test_a_heartbeat_that_fails_a_check_is_refused(
    cloud: ReferenceCloud, key: ManagedKey, problem: str
) -> None:
    cloud.add_loop("L")
    cloud.add_loop("M")
    if problem != "unregistered_key":
        cloud.register_key(key.jwk)
    stale = cloud.issue_token("M" if problem == "other_loops_token" else "L", ttl_s=-60)
    now = int(time.time())
    url = f"{cloud.url}/v1/loops/L/heartbeat"
    htu = f"{cloud.url}/v1/loops/M/heartbeat" if problem == "wrong_htu" else url
    presented = "a.b.c" if problem == "wrong_ath" else stale
    proof = key.sign_proof(htu, presented, now).jwt
    if problem == "replay":
        assert heartbeat(cloud, "L", stale, proof).status_code == 200
    runner_jti = "not-the-jti" if problem == "wrong_runner_jti" else None
    answer = heartbeat(cloud, "L", stale, proof, runner_jti=runner_jti)
    assert answer.status_code == (400 if problem == "wrong_runner_jti" else 401)


def test_status_answers_follow_the_contract(cloud: ReferenceCloud) -> None:
    cloud.add_loop("L")
    token = cloud.issue_token("L")

    def get(loop_id: str, t: str) -> httpx.Response:
        return httpx.get(
            f"{cloud.url}/v1/loops/{loop_id}/status", headers={"Authorization": f"Bearer {t}"}
        )

    assert get("L", token).json() == {"loop_id": "L", "status": "active"}
    assert get("L", cloud.issue_token("L", ttl_s=-1)).status_code == 401
    assert get("nope", token).status_code == 404
    cloud.delete_loop("L")
    assert get("L", token).status_code == 410


def test_faults_are_observable_and_times_limited(cloud: ReferenceCloud) -> None:
    cloud.add_loop("L")
    token = cloud.issue_token("L")
    url = f"{cloud.url}/v1/loops/L/status"
    headers = {"Authorization": f"Bearer {token}"}
    cloud.inject_fault("L", endpoint="status", status=503, times=1)
    assert httpx.get(url, headers=headers).status_code == 503
    assert httpx.get(url, headers=headers).status_code == 200
    cloud.inject_fault("L", endpoint="status", body="not json")
    assert httpx.get(url, headers=headers).text == "not json"
    cloud.clear_faults()
    cloud.inject_fault(None, endpoint="status", status=302)
    redirected = httpx.get(url, headers=headers)
    assert redirected.status_code == 302
    assert "Location" in redirected.headers
    assert cloud.stats("L")["status_gets"] == 4


def test_the_admin_surface_drives_the_same_state(cloud: ReferenceCloud) -> None:
    assert httpx.post(f"{cloud.url}/admin/loops", json={"loop_id": "A"}).status_code == 201
    issued = httpx.post(f"{cloud.url}/admin/loops/A/tokens", json={"ttl_s": 60}).json()
    assert (
        httpx.post(f"{cloud.url}/admin/loops/A/status", json={"status": "failed"}).status_code
        == 200
    )
    status = httpx.get(
        f"{cloud.url}/v1/loops/A/status", headers={"Authorization": f"Bearer {issued['token']}"}
    )
    assert status.json()["status"] == "failed"
    bad = httpx.post(f"{cloud.url}/admin/faults", json={"nonsense": 1})
    assert bad.status_code == 400
