"""Loading the managed key: PoP is available only for a private, readable EC P-256 PKCS#8 key."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from recovery_ledger.infra.crypto.pop_signer import ManagedKey, PopUnavailable, load_managed_key
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key


def test_a_private_p256_key_is_loaded_and_never_shown(tmp_path: Path) -> None:
    path = tmp_path / "managed.pem"
    jwk = write_managed_key(path)
    key = load_managed_key(path)
    assert isinstance(key, ManagedKey)
    assert key.jwk == jwk
    assert "d" not in key.jwk
    private_pem = path.read_text()
    assert "PRIVATE" not in repr(key)
    assert private_pem.splitlines()[1] not in repr(key)


def test_a_missing_key_means_pop_unavailable(tmp_path: Path) -> None:
    got = load_managed_key(tmp_path / "absent.pem")
    assert isinstance(got, PopUnavailable)
    assert got.reason == "missing"


def test_a_key_readable_by_others_is_refused_with_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "managed.pem"
    write_managed_key(path)
    os.chmod(path, 0o644)
    got = load_managed_key(path)
    assert isinstance(got, PopUnavailable)
    assert got.reason == "insecure_mode"
    assert f"chmod 600 {path}" in got.message


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    os.chmod(path, 0o600)
    return path


@pytest.mark.parametrize(
    ("maker", "reason"),
    [
        (lambda: b"hello", "not_pem"),
        (lambda: b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", "not_pem"),
        (
            lambda: ec.generate_private_key(ec.SECP384R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "wrong_key_type",
        ),
        (
            lambda: rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "wrong_key_type",
        ),
        (
            lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
            "not_pem",
        ),
    ],
)
def test_a_key_of_the_wrong_kind_means_pop_unavailable(
    tmp_path: Path, maker: Callable[[], bytes], reason: str
) -> None:
    got = load_managed_key(_write(tmp_path / "k.pem", maker()))
    assert isinstance(got, PopUnavailable)
    assert got.reason == reason


def test_an_unreadable_key_means_pop_unavailable(tmp_path: Path) -> None:
    # A directory where the key should be: stat works, reading fails, even for root.
    path = tmp_path / "managed.pem"
    path.mkdir(mode=0o700)
    got = load_managed_key(path)
    assert isinstance(got, PopUnavailable)
    assert got.reason == "unreadable"
