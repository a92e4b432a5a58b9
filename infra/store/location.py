"""Where the ledger lives: a SQLite file (the embedded default) or a PostgreSQL DSN.

Only this module turns ``--ledger``/``RECOVERY_LEDGER_DB`` into the library's
environment. ``eventsourcing.postgres`` is never imported here: the library
imports it only when the environment names it, i.e. only for a DSN.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from recovery_ledger.infra.errors import BadInputError, LedgerUnreadableError

APP_DIR_NAME = "recovery-ledger"
DEFAULT_LEDGER_NAME = "ledger.sqlite"
_SQLITE_MAGIC = b"SQLite format 3\x00"
_OUR_TABLE = "stored_events"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_DIR_NAME, appauthor=False))


@dataclass(frozen=True)
class LedgerLocation:
    """A resolved ledger: ``path`` for SQLite, ``dsn`` for PostgreSQL."""

    path: Path | None = None
    dsn: str | None = None

    @property
    def is_postgres(self) -> bool:
        return self.dsn is not None

    def describe(self) -> str:
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.dsn or "")
        # Never echo a password from a DSN.
        host = parts.hostname or "localhost"
        return f"postgresql://{host}:{parts.port or 5432}{parts.path}"

    def default_keys_dir(self) -> Path:
        if self.path is not None:
            return self.path.with_name(self.path.name + ".keys")
        return default_data_dir() / "keys"

    def library_env(self) -> dict[str, str]:
        if self.path is not None:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(self.path),
                "SQLITE_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": (
                    "recovery_ledger.infra.store.recorders:ChainedSQLiteApplicationRecorder"
                ),
            }
        return _postgres_env(self.dsn or "")


def resolve_location(argument: str | None) -> LedgerLocation:
    value = argument or os.environ.get("RECOVERY_LEDGER_DB") or ""
    if value.startswith(("postgresql://", "postgres://")):
        return LedgerLocation(dsn=value)
    if "://" in value:
        raise BadInputError(f"unsupported ledger URL scheme in {value.split('://')[0]!r}")
    if not value:
        return LedgerLocation(path=default_data_dir() / DEFAULT_LEDGER_NAME)
    return LedgerLocation(path=Path(value).expanduser().absolute())


def _postgres_env(dsn: str) -> dict[str, str]:
    parts = urlsplit(dsn)
    dbname = unquote(parts.path.lstrip("/"))
    if not dbname:
        raise BadInputError("PostgreSQL DSN needs a database name: postgresql://user@host/db")
    query = parse_qs(parts.query)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": dbname,
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": unquote(parts.username or "postgres"),
        "POSTGRES_PASSWORD": unquote(parts.password or ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "APPLICATION_RECORDER_TOPIC": (
            "recovery_ledger.infra.store.postgres_recorders:ChainedPostgresApplicationRecorder"
        ),
    }
    schema = (query.get("schema") or [os.environ.get("POSTGRES_SCHEMA", "")])[0]
    if schema:
        env["POSTGRES_SCHEMA"] = schema
    return env


def check_sqlite_file(path: Path, *, create: bool) -> None:
    """Refuse, without touching it, a file that is not a ledger; create a new one 0600.

    Opening a foreign SQLite file through the library would create tables in it
    and switch it to WAL, so the check reads it read-only first.
    """
    if path.exists():
        _check_existing(path)
        return
    if not create:
        raise LedgerUnreadableError(f"no ledger at {path}")
    if not path.parent.is_dir():
        if path.parent == default_data_dir():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        else:
            raise BadInputError(f"directory {path.parent} does not exist")
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        _check_existing(path)


def _check_existing(path: Path) -> None:
    if not path.is_file():
        raise LedgerUnreadableError(f"{path} is not a ledger (not a regular file)")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as error:
        raise LedgerUnreadableError(f"cannot read ledger {path}: {error.strerror}") from None
    if not header:
        return  # an empty file: a ledger created but never written
    if header != _SQLITE_MAGIC:
        raise LedgerUnreadableError(f"{path} is not a ledger (not a SQLite database)")
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise LedgerUnreadableError(f"{path} is not a readable ledger: {error}") from None
    if tables and _OUR_TABLE not in tables:
        raise LedgerUnreadableError(f"{path} is a SQLite database but not a ledger")
