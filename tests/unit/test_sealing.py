"""Runner tokens sealed under per-loop data keys, wrapped by the installation key."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from uuid import uuid4

import pytest

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.sealing import TokenSealer
from recovery_ledger.infra.errors import LedgerUnreadableError, TokenUnavailableError

TOKEN = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJqMSIsImV4cCI6MX0.c2lnbmF0dXJlLWJ5dGVz"


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Files must be private because we make them so, not because the umask happens to be."""
    old = os.umask(0)
    yield
    os.umask(old)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_seal_round_trips_and_the_sealed_bytes_do_not_contain_the_token(tmp_path: Path) -> None:
    sealer = TokenSealer(KeyStore(tmp_path / "keys"))
    loop = uuid4()
    sealed, key_id = sealer.seal(loop, "j1", TOKEN)
    assert key_id == f"dek:{loop}"
    assert TOKEN.encode() not in sealed and b"c2lnbmF0dXJl" not in sealed
    assert sealer.unseal(loop, "j1", sealed) == TOKEN


def test_each_seal_uses_a_fresh_nonce(tmp_path: Path) -> None:
    sealer = TokenSealer(KeyStore(tmp_path / "keys"))
    loop = uuid4()
    assert sealer.seal(loop, "j1", TOKEN)[0] != sealer.seal(loop, "j1", TOKEN)[0]


def test_a_sealed_token_is_bound_to_its_loop_and_jti(tmp_path: Path) -> None:
    sealer = TokenSealer(KeyStore(tmp_path / "keys"))
    loop = uuid4()
    sealed, _ = sealer.seal(loop, "j1", TOKEN)
    with pytest.raises(TokenUnavailableError, match="does not open"):
        sealer.unseal(loop, "j2", sealed)  # copied onto another token record
    other = uuid4()
    sealer.seal(other, "j1", "x.y.z")  # gives the other loop a data key
    with pytest.raises(TokenUnavailableError):
        sealer.unseal(other, "j1", sealed)  # copied onto another loop


def test_a_tampered_sealed_token_is_refused(tmp_path: Path) -> None:
    sealer = TokenSealer(KeyStore(tmp_path / "keys"))
    loop = uuid4()
    sealed = bytearray(sealer.seal(loop, "j1", TOKEN)[0])
    sealed[-1] ^= 1
    with pytest.raises(TokenUnavailableError):
        sealer.unseal(loop, "j1", bytes(sealed))
    with pytest.raises(TokenUnavailableError, match="unknown format"):
        sealer.unseal(loop, "j1", b"\x02" + bytes(sealed[1:]))


def test_destroying_the_data_key_makes_every_sealed_copy_unrecoverable(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    sealer = TokenSealer(keys)
    loop = uuid4()
    first, _ = sealer.seal(loop, "j1", TOKEN)
    second, _ = sealer.seal(loop, "j2", TOKEN + "x")
    dek_file = tmp_path / "keys" / "loops" / f"{loop}.dek"
    wrapped = dek_file.read_bytes()
    keys.destroy_data_key(loop)
    assert not dek_file.exists()
    assert not keys.has_data_key(loop)
    for sealed, jti in ((first, "j1"), (second, "j2")):
        with pytest.raises(TokenUnavailableError, match="gone"):
            TokenSealer(KeyStore(tmp_path / "keys")).unseal(loop, jti, sealed)
    # Nothing left in the key directory holds the wrapped key's bytes.
    for path in (tmp_path / "keys").rglob("*"):
        if path.is_file():
            assert wrapped not in path.read_bytes()


def test_a_data_key_opens_only_with_its_installation_key(tmp_path: Path) -> None:
    sealer = TokenSealer(KeyStore(tmp_path / "keys"))
    loop = uuid4()
    sealed, _ = sealer.seal(loop, "j1", TOKEN)
    (tmp_path / "keys" / "installation.key").write_bytes(os.urandom(32))
    with pytest.raises(TokenUnavailableError, match="installation key"):
        TokenSealer(KeyStore(tmp_path / "keys")).unseal(loop, "j1", sealed)


def test_a_damaged_installation_key_is_reported_not_replaced(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    keys_dir.mkdir()
    (keys_dir / "installation.key").write_bytes(b"short")
    with pytest.raises(LedgerUnreadableError, match="damaged"):
        KeyStore(keys_dir).installation_key()
    assert (keys_dir / "installation.key").read_bytes() == b"short"


@pytest.mark.usefixtures("permissive_umask")
def test_key_files_are_0600_and_directories_0700_whatever_the_umask(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "keys")
    loop = uuid4()
    TokenSealer(keys).seal(loop, "j1", TOKEN)
    assert _mode(tmp_path / "keys") == 0o700
    assert _mode(tmp_path / "keys" / "loops") == 0o700
    assert _mode(keys.installation_key_path) == 0o600
    assert _mode(tmp_path / "keys" / "loops" / f"{loop}.dek") == 0o600


def test_a_second_key_store_reads_the_installation_key_the_first_created(tmp_path: Path) -> None:
    first, second = KeyStore(tmp_path / "keys"), KeyStore(tmp_path / "keys")
    assert first.installation_key() == second.installation_key()
