"""Which installation is writing: a stable host id kept with the keys, and the host name."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from pathlib import Path

from recovery_ledger.infra.crypto.private_files import write_private_file


def host_id(keys_dir: Path) -> str:
    """``RECOVERY_LEDGER_HOST_ID`` if set, else a UUID made once per key directory."""
    explicit = os.environ.get("RECOVERY_LEDGER_HOST_ID")
    if explicit:
        return explicit
    path = keys_dir / "host-id"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):  # another process made it first
            write_private_file(path, str(uuid.uuid4()).encode(), exclusive=True)
        return path.read_text().strip()


def host_name() -> str:
    return socket.gethostname()


def adopt_host_id(keys_dir: Path, value: str) -> None:
    """A new key directory takes over a lost one's host id (``key adopt``)."""
    write_private_file(keys_dir / "host-id", value.encode(), exclusive=True)
