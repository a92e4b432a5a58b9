"""The installation's checkpoint signing key (Ed25519), kept with the keys, never in the ledger."""

from __future__ import annotations

import contextlib
import hashlib
from typing import Any

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.private_files import write_private_file

_FILE = "checkpoint_signing.pem"


class CheckpointSigner:
    def __init__(self, keys: KeyStore) -> None:
        self.path = keys.directory / _FILE
        self._key: Any = None

    def __repr__(self) -> str:
        return f"CheckpointSigner({str(self.path)!r})"

    def _load(self, *, create: bool) -> Any:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if self._key is not None:
            return self._key
        if not self.path.exists():
            if not create:
                return None
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with contextlib.suppress(FileExistsError):  # another process made it first
                write_private_file(self.path, pem, exclusive=True)
        self._key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        return self._key

    def key_id(self) -> str | None:
        from cryptography.hazmat.primitives import serialization

        key = self._load(create=False)
        if key is None:
            return None
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]

    def sign(self, message: bytes) -> tuple[bytes, str]:
        key = self._load(create=True)
        key_id = self.key_id()
        assert key_id is not None
        return key.sign(message), key_id

    def verify(self, message: bytes, signature: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature

        key = self._load(create=False)
        if key is None:
            return False
        try:
            key.public_key().verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def existing_key(self) -> Any:
        """The private key, for signing requests as this installation (``ship``); None
        when the key directory holds none. Never creates one."""
        return self._load(create=False)
