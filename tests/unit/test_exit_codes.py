"""docs/contract.md section 5: each layer's failures become the contract's exit codes in one
place, and a failure no row names is unexpected (1), never silently bad input."""

from __future__ import annotations

import pytest

from recovery_ledger.domain import errors as domain
from recovery_ledger.infra import errors as infra
from recovery_ledger.infra.cli.exit_codes import Failure, exit_code_for
from recovery_ledger.infra.cloud.url_policy import BadCloudUrl, InsecureCloudUrl
from recovery_ledger.infra.store.app import UnknownLoopError
from recovery_ledger.projections.errors import FilterError


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (domain.LoopAlreadyFinalizedError("x"), 2),
        (domain.HeartbeatAlreadyPostedError("x"), 2),
        (domain.NoTokenError("x"), 2),
        (domain.UnknownPolicyError("x"), 2),
        (domain.UnknownProvenanceError("x"), 2),
        (domain.MalformedTokenError("x"), 2),
        (domain.BootAlreadyCompletedError("x"), 1),
        (FilterError("x"), 2),
        (infra.BadInputError("x"), 2),
        (UnknownLoopError("x"), 2),
        (BadCloudUrl("x"), 2),
        (InsecureCloudUrl("x"), 2),
        (infra.LedgerBusyError("x"), 3),
        (infra.LedgerUnreadableError("x"), 4),
        (infra.TokenUnavailableError("x"), 4),
        (infra.MissingExtraError("x"), 4),
        (infra.UploadRefusedError("x"), 6),
        (infra.CollectorUnreachableError("x"), 7),
        (infra.LedgerError("x"), 1),
    ],
)
def test_each_failure_has_the_contracts_exit_code(error: Failure, code: int) -> None:
    assert exit_code_for(error) == code


def test_every_domain_failure_shares_one_root() -> None:
    classes = [
        v for v in vars(domain).values() if isinstance(v, type) and v is not domain.DomainError
    ]
    assert len(classes) > 1 and all(issubclass(c, domain.DomainError) for c in classes)
