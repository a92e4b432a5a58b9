"""The PoP proof (docs/contract.md section 3): a DPoP-shaped ES256 JWS signed with the managed key.

The private key stays in this object: never in a repr, a message, the ledger or
any output. "PoP available" needs the file to exist, be private to its owner,
be readable and parse as an EC P-256 PKCS#8 private key.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from recovery_ledger.infra.crypto.jwk import jwk_thumbprint, public_jwk


@dataclass(frozen=True)
class SignedProof:
    jwt: str
    jti: str


@dataclass(frozen=True)
class PopUnavailable:
    """Why PoP is not available: a machine word and one clear human line."""

    reason: str  # missing, unreadable, insecure_mode, not_pem, wrong_key_type
    message: str


def access_token_hash(token: str) -> str:
    """``ath``: base64url (no padding) of SHA-256 of the token's ASCII bytes."""
    digest = hashlib.sha256(token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def strip_query_and_fragment(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class ManagedKey:
    def __init__(self, private_key: Any) -> None:
        self._key = private_key
        self.jwk = public_jwk(private_key.public_key())
        self.thumbprint = jwk_thumbprint(self.jwk)

    def __repr__(self) -> str:
        return f"ManagedKey(thumbprint={self.thumbprint!r})"

    def sign_proof(self, htu: str, runner_token: str, now: int) -> SignedProof:
        """A fresh proof for one POST to ``htu`` presenting ``runner_token``."""
        import jwt

        jti = secrets.token_urlsafe(18)  # 144 bits, never reused
        claims = {
            "jti": jti,
            "htm": "POST",
            "htu": strip_query_and_fragment(htu),
            "iat": int(now),
            "ath": access_token_hash(runner_token),
        }
        headers = {"typ": "dpop+jwt", "jwk": self.jwk}
        token = jwt.encode(claims, self._key, algorithm="ES256", headers=headers)
        return SignedProof(jwt=token, jti=jti)


def load_managed_key(path: Path) -> ManagedKey | PopUnavailable:
    """The key at ``path``, or why it cannot be used, with the fix in the message."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return PopUnavailable(
            "missing",
            f"managed key {path} does not exist; check --pop-key or RECOVERY_LEDGER_POP_KEY",
        )
    except OSError as error:
        return PopUnavailable("unreadable", f"managed key {path} cannot be read ({error.strerror})")
    if os.name == "posix" and info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return PopUnavailable(
            "insecure_mode",
            f"managed key {path} is open to group or others (mode "
            f"{stat.S_IMODE(info.st_mode):04o}); run: chmod 600 {path}",
        )
    try:
        data = path.read_bytes()
    except OSError as error:
        return PopUnavailable(
            "unreadable",
            f"managed key {path} cannot be read ({error.strerror}); "
            f"its owner needs read access: chmod 600 {path}",
        )
    return _parse(path, data)


def _parse(path: Path, data: bytes) -> ManagedKey | PopUnavailable:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    not_pem = PopUnavailable(
        "not_pem",
        f"managed key {path} is not a PKCS#8 PEM private key; "
        "point --pop-key at the installation's EC P-256 key file",
    )
    if b"-----BEGIN PRIVATE KEY-----" not in data:
        return not_pem
    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        return not_pem
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        return PopUnavailable(
            "wrong_key_type",
            f"managed key {path} is not an EC P-256 private key; "
            "point --pop-key at the installation's EC P-256 key file",
        )
    return ManagedKey(key)
