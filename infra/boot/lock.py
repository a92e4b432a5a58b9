"""One boot at a time per ledger (per host on a fleet's shared PostgreSQL ledger), with a
lock the operating system releases.

A lock row in the ledger could outlive a boot killed with ``kill -9``; an OS
lock cannot: SQLite ledgers use an advisory lock on ``<ledger>.lock`` (flock on
POSIX, msvcrt on Windows), PostgreSQL ledgers a session advisory lock that the
server drops with the connection.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from recovery_ledger.infra.errors import LedgerBusyError
from recovery_ledger.infra.store.location import LedgerLocation

_BUSY = "the ledger is held by another boot; nothing was written"


class BootLock(Protocol):
    def __enter__(self) -> BootLock: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class FileBootLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> FileBootLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _try_lock(fd)
        except OSError:
            os.close(fd)
            raise LedgerBusyError(_BUSY) from None
        self._fd = fd
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fd is not None:
            _unlock(self._fd)
            os.close(self._fd)
            self._fd = None


if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
    import msvcrt

    def _try_lock(fd: int) -> None:
        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)

    def _unlock(fd: int) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)


class PostgresBootLock:
    """``pg_try_advisory_lock`` on a key derived from the ledger's schema and the host.

    A fleet shares one PostgreSQL ledger and each host boots only its own loops, so one
    host's boot must not turn another's start-up away; two boots of the same host still
    exclude each other."""

    def __init__(self, env: dict[str, str], host_id: str) -> None:
        self.env = env
        schema = env.get("POSTGRES_SCHEMA", "public")
        digest = hashlib.sha256(
            f"recovery-ledger:boot:{env['POSTGRES_DBNAME']}:{schema}:{host_id}".encode()
        )
        self.key = int.from_bytes(digest.digest()[:8], "big", signed=True)
        self._conn: Any = None

    def __enter__(self) -> PostgresBootLock:
        from recovery_ledger.infra.store.postgres_setup import connect

        conn = connect(self.env)
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()
        if not row or not row[0]:
            conn.close()
            raise LedgerBusyError(_BUSY)
        self._conn = conn
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()  # closing the session releases the advisory lock
            self._conn = None


def boot_lock(location: LedgerLocation, host_id: str) -> BootLock:
    if location.path is not None:
        from recovery_ledger.infra.errors import BadInputError
        from recovery_ledger.infra.store.location import default_data_dir

        if location.path.parent == default_data_dir():
            location.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        elif not location.path.parent.is_dir():
            raise BadInputError(f"directory {location.path.parent} does not exist")
        return FileBootLock(location.path.with_name(location.path.name + ".lock"))
    return PostgresBootLock(location.library_env(), host_id)
