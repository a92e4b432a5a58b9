"""The key directory's side of the signed heads: sign each with the installation's ledger
key and, once its transaction committed, keep the newest outside the ledger too (the
witness, next to the keys), so that a tail cut off together with its heads is caught."""

from __future__ import annotations

import json
from pathlib import Path

from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner
from recovery_ledger.infra.crypto.private_files import write_private_file
from recovery_ledger.infra.errors import LedgerUnreadableError
from recovery_ledger.infra.store.heads import Checkpoint, head_message, now_stamp

WITNESS_FILE = "witness.json"


class WitnessedSigner:
    """Signs heads with the key directory's ledger key and moves the witness after commit."""

    def __init__(self, signer: CheckpointSigner, keys_dir: Path) -> None:
        self.signer = signer
        self.keys_dir = keys_dir

    def sign_head(self, position: int, event_count: int, head: bytes) -> Checkpoint:
        signed_at = now_stamp()
        signature, key_id = self.signer.sign(head_message(position, event_count, head, signed_at))
        return Checkpoint(position, event_count, head, signed_at, key_id, signature)

    def committed(self, checkpoint: Checkpoint) -> None:
        write_private_file(self.keys_dir / WITNESS_FILE, json.dumps(checkpoint.to_json()).encode())


def read_witness(keys_dir: Path) -> Checkpoint | None:
    path = keys_dir / WITNESS_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise LedgerUnreadableError(f"cannot read the witness {path}: {error}") from None
    try:
        return Checkpoint.from_json(json.loads(text))
    except (ValueError, KeyError, TypeError):
        raise LedgerUnreadableError(
            f"the witness {path} is damaged (not a signed head); restore it from a backup "
            "of the key directory"
        ) from None
