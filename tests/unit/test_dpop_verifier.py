"""The RFC 9449 section 4.3 verifier: the RFC's own example proof, tampering, and our proofs
checked by an independent JOSE implementation (joserfc)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TypedDict

import pytest

from recovery_ledger.infra.crypto.pop_signer import ManagedKey
from recovery_ledger.infra.refcloud.dpop_verifier import (
    JtiReplayCache,
    ProofRejected,
    verify_dpop_proof,
)

TESTDATA = Path(__file__).resolve().parents[1] / "testdata"
RFC_PROOF = (TESTDATA / "rfc9449_example_proof.jwt").read_text().strip()
RFC_IAT = 1562262616
RFC_HTU = "https://server.example.com/token"
# RFC 9449 prints this as the example key's JWK SHA-256 thumbprint (its "jkt").
RFC_THUMBPRINT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"


def verify_rfc(proof: str, *, now: int = RFC_IAT) -> object:
    return verify_dpop_proof(
        proof, htm="POST", htu=RFC_HTU, access_token=None, now=now, replay_cache=JtiReplayCache()
    )


def test_the_rfc_example_proof_is_accepted_at_its_own_time() -> None:
    verified = verify_rfc(RFC_PROOF)
    assert verified.jti == "-BwC3ESc6acc2lTc"  # type: ignore[attr-defined]
    assert verified.thumbprint == RFC_THUMBPRINT  # type: ignore[attr-defined]


def test_the_rfc_example_proof_is_stale_today() -> None:
    with pytest.raises(ProofRejected, match="iat"):
        verify_rfc(RFC_PROOF, now=int(time.time()))


def _alter(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("part", [0, 1, 2])
def test_any_altered_byte_of_header_payload_or_signature_is_rejected(part: int) -> None:
    segments = RFC_PROOF.split(".")
    start = sum(len(s) + 1 for s in segments[:part])
    # Every position of the segment except the last character, whose low bits may be
    # base64 padding bits that do not change the decoded bytes.
    for index in range(start, start + len(segments[part]) - 1):
        with pytest.raises(ProofRejected):
            verify_rfc(_alter(RFC_PROOF, index))


@pytest.fixture(scope="module")
def managed_key() -> ManagedKey:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ManagedKey(ec.generate_private_key(ec.SECP256R1()))


HTU = "https://cloud.test/v1/loops/L1/heartbeat"


def test_our_proof_passes_every_check(managed_key: ManagedKey) -> None:
    now = int(time.time())
    proof = managed_key.sign_proof(HTU, "runner.token.value", now)
    verified = verify_dpop_proof(
        proof.jwt,
        htm="POST",
        htu=HTU,
        access_token="runner.token.value",
        now=now,
        replay_cache=JtiReplayCache(),
    )
    assert verified.jti == proof.jti
    assert verified.thumbprint == managed_key.thumbprint


class _Request(TypedDict, total=False):
    """What verify_dpop_proof checks a proof against; a test changes one of them."""

    htm: str
    htu: str
    access_token: str | None
    now: int


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"htm": "GET"}, "htm"),
        ({"htu": "https://cloud.test/v1/loops/L2/heartbeat"}, "htu"),
        ({"htu": "https://other.test/v1/loops/L1/heartbeat"}, "htu"),
        ({"access_token": "another.token.value"}, "ath"),
        ({"now": int(time.time()) + 3600}, "iat"),
    ],
)
def test_a_proof_for_another_request_is_rejected(
    managed_key: ManagedKey, kwargs: _Request, reason: str
) -> None:
    now = int(time.time())
    proof = managed_key.sign_proof(HTU, "runner.token.value", now)
    request = _Request(htm="POST", htu=HTU, access_token="runner.token.value", now=now)
    request.update(kwargs)
    with pytest.raises(ProofRejected, match=reason):
        verify_dpop_proof(proof.jwt, replay_cache=JtiReplayCache(), **request)


def test_a_replayed_proof_is_rejected(managed_key: ManagedKey) -> None:
    now = int(time.time())
    proof = managed_key.sign_proof(HTU, "t.o.k", now)
    cache = JtiReplayCache()
    verify_dpop_proof(
        proof.jwt, htm="POST", htu=HTU, access_token="t.o.k", now=now, replay_cache=cache
    )
    with pytest.raises(ProofRejected, match="replay"):
        verify_dpop_proof(
            proof.jwt, htm="POST", htu=HTU, access_token="t.o.k", now=now, replay_cache=cache
        )


def test_alg_none_and_mac_algorithms_are_rejected() -> None:
    import jwt as pyjwt

    for algorithm, key in (("none", ""), ("HS256", "k" * 32)):
        forged = pyjwt.encode(
            {"jti": "x", "htm": "POST", "htu": HTU, "iat": 1},
            key,
            algorithm=algorithm,
            headers={"typ": "dpop+jwt"},
        )
        with pytest.raises(ProofRejected, match="alg"):
            verify_dpop_proof(
                forged, htm="POST", htu=HTU, access_token=None, now=1, replay_cache=JtiReplayCache()
            )


def test_a_jwk_with_a_private_member_is_rejected(managed_key: ManagedKey) -> None:
    import jwt as pyjwt

    jwk = {**managed_key.jwk, "d": "c2VjcmV0"}
    forged = pyjwt.encode(
        {"jti": "x", "htm": "POST", "htu": HTU, "iat": 1},
        managed_key._key,
        algorithm="ES256",
        headers={"typ": "dpop+jwt", "jwk": jwk},
    )
    with pytest.raises(ProofRejected, match="private"):
        verify_dpop_proof(
            forged, htm="POST", htu=HTU, access_token=None, now=1, replay_cache=JtiReplayCache()
        )


def test_joserfc_independently_verifies_our_proof(managed_key: ManagedKey) -> None:
    from joserfc import jws
    from joserfc.jwk import ECKey

    now = int(time.time())
    proof = managed_key.sign_proof(HTU + "?q=1#frag", "runner.token.value", now)
    jwk: dict[str, str | list[str]] = dict(managed_key.jwk)
    header_key = ECKey.import_key(jwk)
    token = jws.deserialize_compact(proof.jwt, header_key, algorithms=["ES256"])
    import json

    claims = json.loads(token.payload)
    assert token.protected["typ"] == "dpop+jwt"
    assert token.protected["alg"] == "ES256"
    assert "d" not in token.protected["jwk"]
    assert claims["htm"] == "POST"
    assert claims["htu"] == HTU  # query and fragment stripped
    assert claims["iat"] == now
    assert len(claims["jti"]) >= 16  # >= 96 bits of base64url
    import base64
    import hashlib

    expected_ath = (
        base64.urlsafe_b64encode(hashlib.sha256(b"runner.token.value").digest())
        .rstrip(b"=")
        .decode()
    )
    assert claims["ath"] == expected_ath
    assert header_key.thumbprint() == managed_key.thumbprint


def test_two_proofs_never_share_a_jti(managed_key: ManagedKey) -> None:
    jtis = {managed_key.sign_proof(HTU, "t.o.k", 1).jti for _ in range(200)}
    assert len(jtis) == 200
