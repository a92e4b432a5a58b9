"""Sealing runner tokens with AES-256-GCM under the loop's data key.

The associated data binds a sealed token to its loop and jti, so a sealed blob
copied onto another loop or another token record does not open.
"""

from __future__ import annotations

import os
from uuid import UUID

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.errors import TokenUnavailableError

_NONCE_BYTES = 12
_FORMAT = b"\x01"


class TokenSealer:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    def seal(self, aggregate_id: UUID, jti: str, token: str) -> tuple[bytes, str]:
        """Returns (sealed bytes, key id)."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        dek = self.keys.data_key(aggregate_id, create=True)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(dek).encrypt(nonce, token.encode("ascii"), _aad(aggregate_id, jti))
        return _FORMAT + nonce + sealed, self.keys.key_id(aggregate_id)

    def unseal(self, aggregate_id: UUID, jti: str, sealed: bytes) -> str:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        if sealed[:1] != _FORMAT:
            raise TokenUnavailableError("sealed token has an unknown format")
        dek = self.keys.data_key(aggregate_id, create=False)
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return AESGCM(dek).decrypt(nonce, body, _aad(aggregate_id, jti)).decode("ascii")
        except InvalidTag:
            raise TokenUnavailableError(
                "sealed token does not open (tampered or foreign)"
            ) from None

    def shred(self, aggregate_id: UUID) -> None:
        """Crypto-shredding: the loop's data key is destroyed, so nothing it sealed opens again."""
        self.keys.destroy_data_key(aggregate_id)


def _aad(aggregate_id: UUID, jti: str) -> bytes:
    return b"rl-token:" + aggregate_id.bytes + jti.encode("utf-8")
