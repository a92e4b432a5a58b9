"""recovery-ledger: which agent loops to reattach, revive or finalize at boot, recorded.

The layers are subpackages: ``recovery_ledger.domain`` (pure), ``recovery_ledger.projections``
(read models) and ``recovery_ledger.infra`` (everything with I/O). The host's API
(docs/api.md) is exposed here lazily (PEP 562): ``import recovery_ledger.domain.loop``
imports nothing else, and ``recovery_ledger.open_ledger`` loads the bootstrap on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from recovery_ledger.domain.errors import DomainError
    from recovery_ledger.infra.boot.report import boot_document
    from recovery_ledger.infra.boot.service import BootResult
    from recovery_ledger.infra.bootstrap import BootOptions, Ledger, boot, open_ledger
    from recovery_ledger.infra.errors import (
        BadInputError,
        LedgerBusyError,
        LedgerError,
        LedgerUnreadableError,
        TokenUnavailableError,
    )
    from recovery_ledger.infra.version import __version__

_PUBLIC = {
    "open_ledger": "recovery_ledger.infra.bootstrap",
    "boot": "recovery_ledger.infra.bootstrap",
    "Ledger": "recovery_ledger.infra.bootstrap",
    "BootOptions": "recovery_ledger.infra.bootstrap",
    "BootResult": "recovery_ledger.infra.boot.service",
    "boot_document": "recovery_ledger.infra.boot.report",
    "DomainError": "recovery_ledger.domain.errors",
    "LedgerError": "recovery_ledger.infra.errors",
    "BadInputError": "recovery_ledger.infra.errors",
    "LedgerBusyError": "recovery_ledger.infra.errors",
    "LedgerUnreadableError": "recovery_ledger.infra.errors",
    "TokenUnavailableError": "recovery_ledger.infra.errors",
    "__version__": "recovery_ledger.infra.version",
}

__all__ = [
    "BadInputError",
    "BootOptions",
    "BootResult",
    "DomainError",
    "Ledger",
    "LedgerBusyError",
    "LedgerError",
    "LedgerUnreadableError",
    "TokenUnavailableError",
    "__version__",
    "boot",
    "boot_document",
    "open_ledger",
]


def __getattr__(name: str) -> Any:
    module = _PUBLIC.get(name)
    if module is None:
        raise AttributeError(f"module 'recovery_ledger' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
