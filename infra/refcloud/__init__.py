"""The reference cloud used by the tests and the demo (docs/contract.md section 2, real HTTP)."""

from recovery_ledger.infra.refcloud.server import ReferenceCloud

__all__ = ["ReferenceCloud"]
