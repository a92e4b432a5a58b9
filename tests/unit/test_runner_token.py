"""Runner JWTs are read without the cloud's key, but strictly, and never echoed."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime

import pytest

from recovery_ledger.domain.errors import MalformedTokenError
from recovery_ledger.domain.runner_token import parse_runner_token


def b64(obj: object) -> str:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(payload: object, header: object | None = None) -> str:
    return f"{b64(header or {'alg': 'ES256', 'typ': 'JWT'})}.{b64(payload)}.{b64(b'sig')}"


def test_jti_expiry_and_fingerprint_are_read_without_verifying() -> None:
    text = token({"jti": "abc", "exp": 1_800_000_000})
    info = parse_runner_token(text)
    assert info.jti == "abc"
    assert info.expires_at == datetime.fromtimestamp(1_800_000_000, UTC)
    assert len(info.fingerprint) == 64
    assert info.fingerprint != parse_runner_token(token({"jti": "abd", "exp": 1})).fingerprint


@pytest.mark.parametrize(
    "text",
    [
        "",
        " " + token({"jti": "a", "exp": 1}),
        "a.b",
        "a.b.c.d",
        f"{b64({'alg': 'ES256'})}.{b64([1, 2])}.{b64(b's')}",
        token({"exp": 1}),
        token({"jti": "", "exp": 1}),
        token({"jti": 7, "exp": 1}),
        token({"jti": "a"}),
        token({"jti": "a", "exp": "1"}),
        token({"jti": "a", "exp": True}),
        token({"jti": "a", "exp": 1}, header={"typ": "JWT"}),
        "héllo.wörld.x",
        "!!!.???.###",
    ],
)
def test_anything_but_a_well_formed_jwt_is_refused(text: str) -> None:
    with pytest.raises(MalformedTokenError):
        parse_runner_token(text)


def test_the_token_text_never_appears_in_the_refusal() -> None:
    secret_payload = {"jti": "", "exp": 1, "secret": "s3cr3t-material"}
    text = token(secret_payload)
    with pytest.raises(MalformedTokenError) as refusal:
        parse_runner_token(text)
    assert text not in str(refusal.value)
    assert "s3cr3t" not in str(refusal.value)


def test_the_fingerprint_is_the_sha256_of_the_token_text() -> None:
    text = token({"jti": "abc", "exp": 1})
    assert parse_runner_token(text).fingerprint == hashlib.sha256(text.encode()).hexdigest()
