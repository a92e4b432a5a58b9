"""The public keys a verify checks signed heads with: this installation's, and the ones it
is told to trust (``verify --trust-key``)."""

from __future__ import annotations

import base64
from collections.abc import Sequence

from recovery_ledger.infra.crypto.ledger_key import (
    CheckpointSigner,
    PublicKey,
    key_id_of,
    verifies,
)
from recovery_ledger.infra.errors import BadInputError
from recovery_ledger.infra.store.heads import Checkpoint


def parse_public_key(text: str) -> PublicKey:
    """An Ed25519 public key given as its JWK ``x`` (base64url of the 32 raw bytes)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != 32:
            raise ValueError(len(raw))
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise BadInputError(
            f"--trust-key must be an Ed25519 public key (the JWK's x, base64url), not {text!r}"
        ) from None


class HeadKeys:
    """The keys whose signed heads a verify can check: this installation's, and the
    public keys it was told to trust."""

    def __init__(self, own: CheckpointSigner, trusted: Sequence[PublicKey] = ()) -> None:
        own_public = own.public_key()
        self.own_id = None if own_public is None else key_id_of(own_public)
        self._keys = {key_id_of(key): key for key in trusted}
        if own_public is not None:
            self._keys[key_id_of(own_public)] = own_public

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    def verifies(self, checkpoint: Checkpoint) -> bool:
        key = self._keys.get(checkpoint.key_id)
        return key is not None and verifies(key, checkpoint.message(), checkpoint.signature)
