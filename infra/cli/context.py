"""What every subcommand needs: its arguments and the ledger they name, built by the bootstrap."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from recovery_ledger.infra.bootstrap import Ledger, open_ledger
from recovery_ledger.infra.crypto.keystore import check_key_directory

if TYPE_CHECKING:
    from recovery_ledger.infra.store.app import LedgerApp


class CommandContext:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ledger: Ledger = open_ledger(args.ledger, keys=args.keys)
        self.location = self.ledger.location
        self.keys_dir = self.ledger.keys_dir
        check_key_directory(self.keys_dir)
        self.keys = self.ledger.keys
        self.json: bool = bool(args.json)

    def open(self, *, create: bool = False, check_witness: bool = True) -> LedgerApp:
        """The ledger; unless told not to (verify reports it itself), refused when it holds
        less than the witness says it held."""
        app = self.ledger.app(create=create)
        if check_witness:
            from recovery_ledger.infra.integrity.guard import check_not_cut_back

            check_not_cut_back(app)
        return app

    def open_for_writing(self, *, create: bool = False) -> LedgerApp:
        """The ledger, once it is shown to be this installation's and whole (exit 4 when not,
        with nothing written)."""
        return self.ledger.writable_app(create=create)
