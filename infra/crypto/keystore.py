"""The installation key and the per-loop data keys (envelope encryption).

Layout of the key directory (kept outside the ledger database, mode 0700):

    installation.key        32 random bytes, 0600: wraps every data key
    loops/<aggregate>.dek   one loop's data key, wrapped by the installation key

A loop's data key is destroyed (overwritten, then unlinked) when its token is
cleared. Every sealed token of that loop, in every event and every export, then
becomes unrecoverable: crypto-shredding.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING
from uuid import UUID

from recovery_ledger.infra.crypto.private_files import (
    ensure_private_dir,
    shred_file,
    write_private_file,
)
from recovery_ledger.infra.errors import (
    BadInputError,
    LedgerUnreadableError,
    TokenUnavailableError,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KEY_BYTES = 32
_NONCE_BYTES = 12


class KeyStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._installation_key: bytes | None = None
        self._wrapper: AESGCM | None = None  # under the installation key, once loaded

    def __repr__(self) -> str:
        return f"KeyStore({str(self.directory)!r})"

    @property
    def installation_key_path(self) -> Path:
        return self.directory / "installation.key"

    def _dek_path(self, aggregate_id: UUID) -> Path:
        return Path(self._dek_file(aggregate_id))

    def _dek_file(self, aggregate_id: UUID) -> str:
        # A string, not a Path: a boot opens one such file per open loop, and building the
        # Path cost as much as reading the file.
        return os.path.join(self.directory, "loops", f"{aggregate_id}.dek")

    def key_id(self, aggregate_id: UUID) -> str:
        return f"dek:{aggregate_id}"

    def installation_key(self) -> bytes:
        if self._installation_key is None:
            self._installation_key = self._load_or_create_installation_key()
        return self._installation_key

    def _load_or_create_installation_key(self) -> bytes:
        path = self.installation_key_path
        try:
            key = path.read_bytes()
        except FileNotFoundError:
            ensure_private_dir(self.directory)
            with contextlib.suppress(FileExistsError):  # another process made it first
                write_private_file(path, os.urandom(_KEY_BYTES), exclusive=True)
            key = path.read_bytes()
        except OSError as error:
            raise LedgerUnreadableError(f"cannot read installation key {path}: {error}") from None
        if len(key) != _KEY_BYTES:
            raise LedgerUnreadableError(f"installation key {path} is damaged (wrong length)")
        return key

    def data_key(self, aggregate_id: UUID, *, create: bool) -> bytes:
        """The loop's data key; created on first use when ``create``."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        path = self._dek_file(aggregate_id)
        if self._wrapper is None:
            self._wrapper = AESGCM(self.installation_key())
        wrapper = self._wrapper
        aad = b"rl-dek:" + aggregate_id.bytes
        try:
            with open(path, "rb") as file:
                wrapped = file.read()
        except FileNotFoundError:
            if not create:
                raise TokenUnavailableError(
                    "the loop's data key is gone (token cleared and shredded, "
                    "or the ledger was moved without its key directory)"
                ) from None
            dek = AESGCM.generate_key(bit_length=256)
            nonce = os.urandom(_NONCE_BYTES)
            write_private_file(Path(path), nonce + wrapper.encrypt(nonce, dek, aad))
            return dek
        from cryptography.exceptions import InvalidTag

        try:
            return wrapper.decrypt(wrapped[:_NONCE_BYTES], wrapped[_NONCE_BYTES:], aad)
        except InvalidTag:
            raise TokenUnavailableError(
                "the loop's data key does not open with this installation key"
            ) from None

    def data_key_ids(self) -> list[UUID]:
        """The loops whose data key is still on disk (few: a cleared token's key goes at once)."""
        found = []
        for path in (self.directory / "loops").glob("*.dek"):
            try:
                found.append(UUID(path.stem))
            except ValueError:  # not a file we wrote
                continue
        return found

    def has_data_key(self, aggregate_id: UUID) -> bool:
        return self._dek_path(aggregate_id).exists()

    def destroy_data_key(self, aggregate_id: UUID) -> None:
        shred_file(self._dek_path(aggregate_id))


# What a key directory holds (keystore, ledger signing key, witness, host id, PoP key).
KEY_DIRECTORY_ENTRIES = frozenset(
    {
        "installation.key",
        "loops",
        "checkpoint_signing.pem",
        "witness.json",
        "host-id",
        "managed_key.pem",
    }
)


def check_key_directory(path: Path) -> None:
    """``--keys`` names a key directory, or a missing or empty directory; anything else is
    refused before a byte is written (``--keys /`` must not fill ``/`` with keys)."""
    try:
        entries = set(os.listdir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise BadInputError(f"--keys {path} is a file, not a key directory") from None
    except OSError as error:
        raise LedgerUnreadableError(
            f"cannot read the key directory {path}: {error.strerror}"
        ) from None
    if entries and not entries & KEY_DIRECTORY_ENTRIES:
        raise BadInputError(
            f"--keys {path} is neither a key directory nor empty; name the ledger's key "
            "directory or a new one"
        )
