"""The reference cloud's runner JWTs: ES256 under a key only the cloud holds."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

ISSUER = "recovery-ledger-reference-cloud"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    jti: str
    expires_at: int


class TokenAuthority:
    def __init__(self) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        self._public = self._key.public_key()

    def __repr__(self) -> str:
        return "TokenAuthority()"

    def issue(self, loop_id: str, ttl_s: int, *, jti: str | None = None) -> IssuedToken:
        import jwt

        now = int(time.time())
        jti = jti or secrets.token_urlsafe(12)
        claims = {"iss": ISSUER, "sub": loop_id, "jti": jti, "iat": now, "exp": now + ttl_s}
        return IssuedToken(jwt.encode(claims, self._key, algorithm="ES256"), jti, now + ttl_s)

    def claims(self, token: str, *, loop_id: str, allow_expired: bool) -> dict[str, Any] | None:
        """The claims of a token this cloud issued for ``loop_id``; None otherwise."""
        import jwt

        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                issuer=ISSUER,
                options={"verify_exp": not allow_expired, "require": ["exp", "jti", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        return claims if claims.get("sub") == loop_id else None
