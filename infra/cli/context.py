"""What every subcommand needs: the ledger location, its key directory, the app."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.store.location import LedgerLocation, resolve_location

if TYPE_CHECKING:
    from recovery_ledger.infra.store.app import LedgerApp


class CommandContext:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.location: LedgerLocation = resolve_location(args.ledger)
        keys = args.keys or os.environ.get("RECOVERY_LEDGER_KEYS")
        self.keys_dir = (
            Path(keys).expanduser().absolute() if keys else self.location.default_keys_dir()
        )
        self.keys = KeyStore(self.keys_dir)
        self.json: bool = bool(args.json)

    def open(self, *, create: bool = False) -> LedgerApp:
        from recovery_ledger.infra.store.app import open_ledger

        return open_ledger(self.location, self.keys, create=create)
