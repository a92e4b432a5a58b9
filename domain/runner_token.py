"""Reading a runner JWT without verifying it: the client never has the cloud's key.

Strict about shape all the same (three base64url segments, JSON header with
``alg``, JSON object payload with a string ``jti`` and an integer ``exp``), since
the ledger records jti and expiry. The token text never goes into a message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from recovery_ledger.domain.errors import MalformedTokenError

MAX_TOKEN_BYTES = 16 * 1024

# The JWS algorithms of the IANA registry (RFC 7518, RFC 8037, RFC 8812) that sign: a token
# whose header names anything else, ``none`` above all, is not a runner token.
JWS_ALGORITHMS = frozenset(
    {
        *("HS256", "HS384", "HS512", "RS256", "RS384", "RS512"),
        *("ES256", "ES384", "ES512", "PS256", "PS384", "PS512"),
        *("EdDSA", "ES256K", "Ed25519", "Ed448"),
    }
)


def _malformed(why: str) -> MalformedTokenError:
    return MalformedTokenError(f"the runner token is not a well-formed JWT: {why}")


@dataclass(frozen=True)
class RunnerTokenInfo:
    jti: str
    expires_at: datetime
    fingerprint: str


def _segment(text: str, what: str) -> bytes:
    if not text or any(c not in _B64URL for c in text):
        raise _malformed(f"{what} is not base64url")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise _malformed(f"{what} is not base64url") from None


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _json_object(raw: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise _malformed(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise _malformed(f"{what} is not a JSON object")
    return value


def accept_runner_token(text: str, loop_id: str) -> RunnerTokenInfo:
    """The one rule for every runner token the ledger adopts, from stdin or revived by the
    cloud (contract section 5): at most 16 KiB, well-formed, signed with a real algorithm
    (never ``none``), and naming this loop when it names one in ``sub``."""
    if len(text) > MAX_TOKEN_BYTES:
        raise _malformed(f"a runner token is at most {MAX_TOKEN_BYTES} bytes")
    header, payload, info = _parse(text)
    if header.get("alg") not in JWS_ALGORITHMS:
        raise _malformed("header alg is not a JWS signing algorithm")
    if "sub" in payload and payload["sub"] != loop_id:
        raise _malformed("payload sub names another loop")
    return info


def parse_runner_token(text: str) -> RunnerTokenInfo:
    """Shape only: for a token the ledger already holds (``accept_runner_token`` let it in)."""
    return _parse(text)[2]


def _parse(text: str) -> tuple[dict[str, object], dict[str, object], RunnerTokenInfo]:
    if not text or not text.isascii() or text != text.strip():
        raise _malformed("a JWT is non-empty ASCII without surrounding whitespace")
    parts = text.split(".")
    if len(parts) != 3:
        raise _malformed(f"a JWT has 3 segments, this has {len(parts)}")
    header = _json_object(_segment(parts[0], "header"), "header")
    payload = _json_object(_segment(parts[1], "payload"), "payload")
    _segment(parts[2], "signature")
    if not isinstance(header.get("alg"), str):
        raise _malformed("header has no alg")
    jti = payload.get("jti")
    if not isinstance(jti, str) or not jti:
        raise _malformed("payload has no string jti")
    exp = payload.get("exp")
    if isinstance(exp, bool) or not isinstance(exp, int):
        raise _malformed("payload has no integer exp")
    try:
        expires_at = datetime.fromtimestamp(exp, UTC)
    except (OverflowError, OSError, ValueError):
        raise _malformed("payload exp is out of range") from None
    fingerprint = hashlib.sha256(text.encode("ascii")).hexdigest()
    return header, payload, RunnerTokenInfo(jti=jti, expires_at=expires_at, fingerprint=fingerprint)
