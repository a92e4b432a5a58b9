"""Pure parts of the fleet: where batches end, the RFC 7638 thumbprint of an Ed25519 key,
and the request signature's binding to method, path, body and time."""

from __future__ import annotations

import pytest

from recovery_ledger.infra.crypto.jwk import jwk_thumbprint
from recovery_ledger.infra.fleet.request_auth import RequestAuthError, read_request, sign_request
from recovery_ledger.infra.fleet.shipper import _next_end
from recovery_ledger.infra.store.heads import Checkpoint


def heads(*counts: int) -> list[Checkpoint]:
    return [Checkpoint(c, c, bytes(32), "t", "k", b"") for c in counts]


@pytest.mark.parametrize(
    ("counts", "after", "batch", "expected"),
    [
        ((2, 4, 6, 8), 0, 4, 4),  # as far as the batch allows
        ((2, 4, 6, 8), 4, 100, 8),  # everything left
        ((10, 20), 0, 4, 10),  # one checkpoint alone is larger: sent whole
        ((2, 4), 4, 4, None),  # all acknowledged
        ((2, 4, 6), 3, 2, 4),  # an acknowledgement between checkpoints (another ship)
    ],
)
def test_a_batch_ends_at_the_furthest_checkpoint_within_its_size(
    counts: tuple[int, ...], after: int, batch: int, expected: int | None
) -> None:
    end = _next_end(heads(*counts), after, batch)
    assert (end.event_count if end else None) == expected


def test_the_ed25519_thumbprint_is_rfc_8037s_example() -> None:
    # RFC 8037 appendix A.3
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_a_request_signature_binds_method_path_body_and_time() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    header = sign_request(key, "POST", "/v1/uploads", b"body")
    who = read_request(header, "POST", "/v1/uploads", b"body")
    assert len(who.thumbprint) == 43 and len(who.jti) >= 16
    for method, path, body, now, reason in (
        ("GET", "/v1/uploads", b"body", None, "bad_request_signature"),
        ("POST", "/v1/position", b"body", None, "bad_request_signature"),
        ("POST", "/v1/uploads", b"other", None, "bad_request_signature"),
        ("POST", "/v1/uploads", b"body", 10_000_000_000.0, "stale_request"),
    ):
        with pytest.raises(RequestAuthError) as refused:
            read_request(header, method, path, body, now)
        assert refused.value.reason == reason
    with pytest.raises(RequestAuthError):
        read_request(header.replace("RL-Ledger", "Bearer"), "POST", "/v1/uploads", b"body")
