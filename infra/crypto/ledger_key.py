"""The installation's ledger signing key (Ed25519): it signs every chain head. Kept in the
key directory, never in the ledger."""

from __future__ import annotations

import contextlib
import hashlib
from typing import TYPE_CHECKING, Any

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.private_files import write_private_file
from recovery_ledger.infra.errors import LedgerUnreadableError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    PublicKey = Ed25519PublicKey
else:
    PublicKey = Any

FILE = "checkpoint_signing.pem"


def raw_public(key: PublicKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id_of(key: PublicKey) -> str:
    """The ``key_id`` recorded with every signed head."""
    return "ed25519:" + hashlib.sha256(raw_public(key)).hexdigest()[:32]


class CheckpointSigner:
    def __init__(self, keys: KeyStore) -> None:
        self.path = keys.directory / FILE
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
        try:
            key = serialization.load_pem_private_key(self.path.read_bytes(), password=None)
        except OSError as error:
            raise LedgerUnreadableError(
                f"cannot read the ledger signing key {self.path}: {error.strerror}"
            ) from None
        except (ValueError, TypeError):
            raise LedgerUnreadableError(
                f"the ledger signing key {self.path} is damaged; restore the key directory "
                "from a backup"
            ) from None
        if not isinstance(key, Ed25519PrivateKey):
            raise LedgerUnreadableError(f"{self.path} is not an Ed25519 ledger signing key")
        self._key = key
        return key

    def public_key(self) -> PublicKey | None:
        key = self._load(create=False)
        return None if key is None else key.public_key()

    def key_id(self) -> str | None:
        public = self.public_key()
        return None if public is None else key_id_of(public)

    def public_jwk(self) -> dict[str, str] | None:
        """The public half as a JWK (never a private member); None before the key exists.
        Its RFC 7638 thumbprint is how a collector knows this installation."""
        from recovery_ledger.infra.crypto.jwk import ed25519_public_jwk

        key = self._load(create=False)
        return None if key is None else ed25519_public_jwk(key.public_key())

    def existing_key(self) -> Any:
        """The private key, for signing requests as this installation (``ship``); None
        when the key directory holds none. Never creates one."""
        return self._load(create=False)

    def sign(self, message: bytes) -> tuple[bytes, str]:
        key = self._load(create=True)
        return key.sign(message), key_id_of(key.public_key())

    def verify(self, message: bytes, signature: bytes) -> bool:
        public = self.public_key()
        return public is not None and verifies(public, message, signature)


def verifies(public: PublicKey, message: bytes, signature: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature

    try:
        public.verify(signature, message)
    except InvalidSignature:
        return False
    return True
