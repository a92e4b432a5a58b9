"""What every subcommand needs: its arguments and the ledger they name, built by the bootstrap."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from recovery_ledger.infra.bootstrap import Ledger, open_ledger

if TYPE_CHECKING:
    from recovery_ledger.infra.store.app import LedgerApp


class CommandContext:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ledger: Ledger = open_ledger(args.ledger, keys=args.keys)
        self.location = self.ledger.location
        self.keys_dir = self.ledger.keys_dir
        self.keys = self.ledger.keys
        self.json: bool = bool(args.json)

    def open(self, *, create: bool = False) -> LedgerApp:
        return self.ledger.app(create=create)
