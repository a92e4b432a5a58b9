"""What every subcommand needs: the ledger location, its key directory, the app."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import TYPE_CHECKING

from recovery_ledger.infra.crypto.keystore import KeyStore, check_key_directory
from recovery_ledger.infra.errors import LedgerUnreadableError
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
        check_key_directory(self.keys_dir)
        self.keys = KeyStore(self.keys_dir)
        self.json: bool = bool(args.json)

    def open(self, *, create: bool = False, check_witness: bool = True) -> LedgerApp:
        """The ledger; unless told not to (verify reports it itself), refused when it holds
        less than the witness says it held."""
        from recovery_ledger.infra.store.app import open_ledger

        app = open_ledger(self.location, self.keys, create=create)
        if check_witness:
            from recovery_ledger.infra.integrity.guard import check_not_cut_back

            check_not_cut_back(app)
        return app

    def open_for_writing(self, *, create: bool = False) -> LedgerApp:
        """The ledger, once it is shown to be this installation's and whole (exit 4 when not,
        with nothing written: a detected problem is never signed over)."""
        from recovery_ledger.infra.integrity.guard import check_before_write, refuse_wiped

        path = self.location.path
        if self.location.read_only:
            raise LedgerUnreadableError(f"the ledger {path} is read-only; nothing was written")
        if path is not None and (not path.exists() or path.stat().st_size == 0):
            refuse_wiped(self.keys_dir, 0, f"the ledger {path}")
        app = self.open(create=create)
        check_before_write(app)
        return app
