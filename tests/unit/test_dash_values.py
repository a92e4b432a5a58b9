"""A thumbprint or an Ed25519 JWK ``x`` is base64url, and one in 64 begins with '-': the command
line takes it as the option's value (it once failed `verify --trust-key` at random in CI)."""

from __future__ import annotations

from recovery_ledger.infra.cli.parser import build_parser, join_dash_values

DASHED = "-" + "Ab_9" * 10 + "xy"  # 43 characters, as a 32-byte base64url value


def test_a_dashed_key_is_the_value_of_trust_key_and_thumbprint() -> None:
    verify = build_parser().parse_args(join_dash_values(["verify", "--trust-key", DASHED]))
    assert verify.trust_key == [DASHED]
    enroll = build_parser().parse_args(
        join_dash_values(["collector", "enroll", "--thumbprint", DASHED, "--name", "n"])
    )
    assert enroll.thumbprint == DASHED


def test_only_a_value_of_that_shape_is_joined() -> None:
    assert join_dash_values(["verify", "--trust-key", "--json"]) == [
        "verify",
        "--trust-key",
        "--json",
    ]
    assert join_dash_values(["verify", "--", "--trust-key", DASHED]) == [
        "verify",
        "--",
        "--trust-key",
        DASHED,
    ]
