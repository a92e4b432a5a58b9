"""Public JWKs (EC P-256, Ed25519) and their RFC 7638 thumbprints."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

# RFC 7638 section 3.2 (EC) and RFC 8037 section 2 (OKP): the members a thumbprint covers.
_REQUIRED_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def public_jwk(public_key: Any) -> dict[str, str]:
    """The public JWK of an EC P-256 key: kty, crv, x, y, and never ``d``."""
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url(numbers.x.to_bytes(32, "big")),
        "y": b64url(numbers.y.to_bytes(32, "big")),
    }


def ed25519_public_jwk(public_key: Any) -> dict[str, str]:
    """The public JWK of an Ed25519 key (RFC 8037): kty OKP, crv, x, and never ``d``."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.

    EC (P-256) and OKP (Ed25519) keys; the fleet's collector compares these."""
    members = _REQUIRED_MEMBERS.get(jwk.get("kty", ""))
    if members is None:
        raise ValueError("only EC and OKP keys are thumbprinted here")
    canonical = json.dumps({m: jwk[m] for m in members}, separators=(",", ":"), sort_keys=True)
    return b64url(hashlib.sha256(canonical.encode("utf-8")).digest())
