"""A managed key for the demo and the tests: EC P-256, PKCS#8 PEM, created 0600."""

from __future__ import annotations

from pathlib import Path

from recovery_ledger.infra.crypto.private_files import write_private_file


def write_managed_key(path: Path) -> dict[str, str]:
    """Create the key file; return its public JWK (what the cloud registers)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from recovery_ledger.infra.crypto.jwk import public_jwk

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_private_file(path, pem, exclusive=True)
    return public_jwk(key.public_key())
