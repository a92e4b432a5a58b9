"""Each request to the collector proves possession of the installation's ledger signing key.

The ``Authorization: RL-Ledger <JWS>`` header holds a compact JWS (EdDSA, Ed25519), shaped
after DPoP (RFC 9449): the public key rides in the header as a JWK (RFC 8037), and its RFC
7638 thumbprint is the installation's identity, so enrollment needs only the thumbprint.
The claims bind the request: ``htm`` (method), ``htp`` (path; the scheme and host are
left out so that a load balancer in front does not break it), ``bh`` (SHA-256 of the
body), ``iat`` (within ``MAX_SKEW_S`` of the collector's clock) and ``jti`` (fresh, never
accepted twice; the collector keeps it for longer than the skew window).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any

from recovery_ledger.infra.crypto.jwk import b64url, ed25519_public_jwk, jwk_thumbprint
from recovery_ledger.infra.errors import LedgerError

SCHEME = "RL-Ledger"
TYP = "rl-request+jwt"
MAX_SKEW_S = 300


class RequestAuthError(LedgerError):
    """The request does not prove possession of a key; ``reason`` is a metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Requester:
    thumbprint: str
    jwk: dict[str, str]
    jti: str
    public_key: Any


def body_hash(body: bytes) -> str:
    return b64url(hashlib.sha256(body).digest())


def sign_request(private_key: Any, method: str, path: str, body: bytes) -> str:
    """The Authorization header value for one request, signed with the ledger key."""
    import jwt

    token = jwt.encode(
        {
            "jti": secrets.token_urlsafe(16),
            "htm": method,
            "htp": path,
            "iat": int(time.time()),
            "bh": body_hash(body),
        },
        private_key,
        algorithm="EdDSA",
        headers={"typ": TYP, "jwk": ed25519_public_jwk(private_key.public_key())},
    )
    return f"{SCHEME} {token}"


def read_request(
    authorization: str | None, method: str, path: str, body: bytes, now: float | None = None
) -> Requester:
    """The requester whose key signed this very request, or RequestAuthError."""
    import jwt

    scheme, _, token = (authorization or "").partition(" ")
    if scheme != SCHEME or not token:
        raise RequestAuthError("bad_request_signature", f"no {SCHEME} signature on the request")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise RequestAuthError(
            "bad_request_signature", "the request signature is malformed"
        ) from None
    jwk: Any = header.get("jwk")
    if header.get("typ") != TYP or header.get("alg") != "EdDSA" or not _is_ed25519_jwk(jwk):
        raise RequestAuthError(
            "bad_request_signature", "the request signature is not an EdDSA ledger-key signature"
        )
    public_key = _public_key(jwk)
    try:
        claims = jwt.decode(
            token,
            public_key,
            algorithms=["EdDSA"],
            options={"require": ["jti", "htm", "htp", "iat", "bh"], "verify_iat": False},
        )
    except jwt.PyJWTError:
        raise RequestAuthError(
            "bad_request_signature", "the request signature does not verify"
        ) from None
    _check_binding(claims, method, path, body, time.time() if now is None else now)
    return Requester(jwk_thumbprint(jwk), jwk, str(claims["jti"]), public_key)


def _check_binding(claims: dict[str, Any], method: str, path: str, body: bytes, now: float) -> None:
    if claims["htm"] != method or claims["htp"] != path:
        raise RequestAuthError("bad_request_signature", "the signature is for another request")
    if claims["bh"] != body_hash(body):
        raise RequestAuthError("bad_request_signature", "the body is not the one signed")
    iat = claims["iat"]
    if not isinstance(iat, int) or abs(now - iat) > MAX_SKEW_S:
        raise RequestAuthError(
            "stale_request",
            f"the request was signed more than {MAX_SKEW_S} s from the collector's time "
            "(replayed, or the desktop's clock is wrong)",
        )
    jti = claims["jti"]
    if not isinstance(jti, str) or not 16 <= len(jti) <= 128:
        raise RequestAuthError("bad_request_signature", "the request id (jti) is malformed")


def _is_ed25519_jwk(jwk: Any) -> bool:
    return (
        isinstance(jwk, dict)
        and jwk.get("kty") == "OKP"
        and jwk.get("crv") == "Ed25519"
        and isinstance(jwk.get("x"), str)
        and "d" not in jwk
    )


def _public_key(jwk: dict[str, str]) -> Any:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.urlsafe_b64decode(jwk["x"] + "=" * (-len(jwk["x"]) % 4))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise RequestAuthError(
            "bad_request_signature", "the key in the request is malformed"
        ) from None
