"""A DPoP proof verifier following RFC 9449 section 4.3, used by the reference cloud.

Checked, in order: a compact JWS; ``typ`` is ``dpop+jwt``; ``alg`` is ES256 (so
never ``none`` nor a MAC); ``jwk`` is a public EC P-256 key (no private member);
the signature verifies with that embedded key; ``htm`` and ``htu`` match the
request; ``iat`` is within the window; ``ath`` hashes the presented token; and
``jti`` was not seen before. The thumbprint of the embedded key is returned for
the caller to compare with the key it registered.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from recovery_ledger.infra.crypto.jwk import jwk_thumbprint
from recovery_ledger.infra.crypto.pop_signer import access_token_hash
from recovery_ledger.infra.errors import LedgerError


class ProofRejected(LedgerError):
    """The DPoP proof fails one of RFC 9449's checks; ``reason`` names which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class VerifiedProof:
    thumbprint: str
    jti: str
    iat: int


class JtiReplayCache:
    """Seen proof jtis until they could no longer pass the iat window; thread-safe."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def remember(self, jti: str, *, until: int, now: int) -> bool:
        """Record ``jti``; False if it was already seen (a replay)."""
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {k: v for k, v in self._seen.items() if v >= now}
            if jti in self._seen:
                return False
            self._seen[jti] = until
            return True


def _b64decode(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise ProofRejected("not a JWS: bad base64url") from None


def _json(segment: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(segment))
    except (UnicodeDecodeError, ValueError):
        raise ProofRejected(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise ProofRejected(f"{what} is not a JSON object")
    return value


def _public_key(jwk: Any) -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(jwk, dict):
        raise ProofRejected("header has no jwk")
    if "d" in jwk:
        raise ProofRejected("jwk contains a private member")
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise ProofRejected("jwk is not an EC P-256 key")
    try:
        x = int.from_bytes(_b64decode(jwk["x"]), "big")
        y = int.from_bytes(_b64decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, TypeError, ValueError):
        raise ProofRejected("jwk is not a valid P-256 point") from None


def _verify_signature(public_key: Any, signing_input: bytes, signature: bytes) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    if len(signature) != 64:
        raise ProofRejected("signature is not an ES256 signature")
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        public_key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ProofRejected("signature does not verify with the embedded jwk") from None


def _same_target(a: str, b: str) -> bool:
    """htu comparison without query and fragment (RFC 9449 section 4.3, item 9)."""
    pa, pb = urlsplit(a), urlsplit(b)
    default = {"http": 80, "https": 443}
    return (
        pa.scheme.lower() == pb.scheme.lower()
        and (pa.hostname or "").lower() == (pb.hostname or "").lower()
        and (pa.port or default.get(pa.scheme)) == (pb.port or default.get(pb.scheme))
        and (pa.path or "/") == (pb.path or "/")
    )


def verify_dpop_proof(
    proof: str,
    *,
    htm: str,
    htu: str,
    access_token: str | None,
    now: int,
    replay_cache: JtiReplayCache,
    max_age_s: int = 60,
    leeway_s: int = 5,
) -> VerifiedProof:
    parts = proof.split(".")
    if len(parts) != 3 or not parts[0] or not parts[1]:
        raise ProofRejected("not a compact JWS")
    header, claims = _json(parts[0], "header"), _json(parts[1], "payload")
    if header.get("typ") != "dpop+jwt":
        raise ProofRejected("typ is not dpop+jwt")
    if header.get("alg") != "ES256":
        raise ProofRejected("alg is not ES256")
    jwk = header.get("jwk")
    public_key = _public_key(jwk)
    _verify_signature(public_key, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64decode(parts[2]))
    if claims.get("htm") != htm:
        raise ProofRejected("htm does not match the request method")
    if not isinstance(claims.get("htu"), str) or not _same_target(claims["htu"], htu):
        raise ProofRejected("htu does not match the request URL")
    iat = claims.get("iat")
    if isinstance(iat, bool) or not isinstance(iat, int):
        raise ProofRejected("iat is missing or not an integer")
    if iat < now - max_age_s or iat > now + leeway_s:
        raise ProofRejected("iat is outside the acceptable window")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath, access_token_hash(access_token)
        ):
            raise ProofRejected("ath does not match the presented token")
    jti = claims.get("jti")
    if not isinstance(jti, str) or not jti:
        raise ProofRejected("jti is missing")
    if not replay_cache.remember(jti, until=iat + max_age_s + leeway_s, now=now):
        raise ProofRejected("jti was already used (replay)")
    assert isinstance(jwk, dict)
    return VerifiedProof(thumbprint=jwk_thumbprint(jwk), jti=jti, iat=iat)
