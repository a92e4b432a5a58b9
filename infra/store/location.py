"""Where the ledger lives: a SQLite file (the embedded default) or a PostgreSQL DSN.

Only this module turns ``--ledger``/``RECOVERY_LEDGER_DB`` into the library's
environment. ``eventsourcing.postgres`` is never imported here: the library
imports it only when the environment names it, i.e. only for a DSN.
"""

from __future__ import annotations

import os
import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

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
        server = parts.netloc.rpartition("@")[2] or "localhost"
        return f"postgresql://{server}{parts.path}"

    @property
    def read_only(self) -> bool:
        """A SQLite ledger this process cannot write: a read-only file, directory or mount.
        Read commands still work on it (opened immutable, projections folded in memory)."""
        if self.path is None or not self.path.exists():
            return False
        if not os.access(self.path, os.W_OK) or not os.access(self.path.parent, os.W_OK):
            return True
        return bool(os.statvfs(self.path).f_flag & os.ST_RDONLY)

    def default_keys_dir(self) -> Path:
        if self.path is not None:
            return self.path.with_name(self.path.name + ".keys")
        return default_data_dir() / "keys"

    def library_env(self) -> dict[str, str]:
        if self.path is not None:
            return {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": read_only_uri(self.path) if self.read_only else str(self.path),
                "SQLITE_LOCK_TIMEOUT": "10",
                "APPLICATION_RECORDER_TOPIC": (
                    "recovery_ledger.infra.store.recorders:ChainedSQLiteApplicationRecorder"
                ),
            }
        return _postgres_env(self.dsn or "")


def read_only_uri(path: Path) -> str:
    # Nothing can change a ledger no one may write: SQLite may then skip its -shm/-wal files,
    # which it could not create there.
    return f"{path.as_uri()}?mode=ro&immutable=1"


def resolve_location(argument: str | None) -> LedgerLocation:
    value = argument or os.environ.get("RECOVERY_LEDGER_DB") or ""
    if value.startswith(("postgresql://", "postgres://")):
        _postgres_env(value)  # a bad DSN or schema is bad usage: refused before connecting
        return LedgerLocation(dsn=value)
    if "://" in value:
        raise BadInputError(f"unsupported ledger URL scheme in {value.split('://')[0]!r}")
    if not value:
        return LedgerLocation(path=default_data_dir() / DEFAULT_LEDGER_NAME)
    path = Path(value).expanduser().absolute()
    if path.is_dir():
        raise LedgerUnreadableError(f"{path} is a directory, not a ledger")
    return LedgerLocation(path=path)


# Every schema the server itself keeps: never a ledger.
_SYSTEM_SCHEMA = re.compile(r"(information_schema|pg_.*)\Z")
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*\Z")
_MAX_IDENTIFIER_BYTES = 63  # PostgreSQL truncates longer names: two DSNs, one ledger


def ledger_schema(value: str) -> str:
    """The ledger's schema, a plain identifier (folded to lower case, as PostgreSQL folds an
    unquoted name); anything else is bad usage, refused before connecting."""
    schema = value.lower()
    if not _PLAIN_IDENTIFIER.match(schema) or len(schema.encode()) > _MAX_IDENTIFIER_BYTES:
        raise BadInputError(
            f"schema {value[:80]!r} must be a plain identifier (letters, digits, _; not "
            f"starting with a digit; at most {_MAX_IDENTIFIER_BYTES} bytes)"
        )
    if _SYSTEM_SCHEMA.match(schema):
        raise BadInputError(f"schema {schema!r} is PostgreSQL's own, not a ledger")
    return schema


def _postgres_env(dsn: str) -> dict[str, str]:
    """The library's environment for a DSN: every libpq parameter kept (``LIBPQ_CONNINFO``,
    which ``postgres_recorders.LedgerPostgresFactory`` hands to the connection pool), the
    ``schema`` parameter taken out as the ledger's."""
    try:
        from psycopg import ProgrammingError
        from psycopg.conninfo import conninfo_to_dict, make_conninfo
    except ImportError:  # pragma: no cover - depends on the install
        raise BadInputError(
            "PostgreSQL support is not installed: pip install 'recovery-ledger[postgres]'"
        ) from None
    parts = urlsplit(dsn)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    libpq_dsn = urlunsplit(parts._replace(query=urlencode([q for q in query if q[0] != "schema"])))
    try:
        params = {key: str(value) for key, value in conninfo_to_dict(libpq_dsn).items()}
    except ProgrammingError as error:
        # libpq's message names the bad part, never the password.
        raise BadInputError(f"bad PostgreSQL DSN: {str(error).strip()}") from None
    if not params.get("dbname"):
        raise BadInputError("PostgreSQL DSN needs a database name: postgresql://user@host/db")
    for port in params.get("port", "5432").split(","):
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise BadInputError(f"the DSN's port must be a number, not {port[:20]!r}")
    params.setdefault("host", "127.0.0.1")
    params.setdefault("user", "postgres")
    params.setdefault("connect_timeout", "5")
    env = {
        "PERSISTENCE_MODULE": (
            "recovery_ledger.infra.store.postgres_recorders:LedgerPostgresFactory"
        ),
        "LIBPQ_CONNINFO": make_conninfo(**params),
        "POSTGRES_DBNAME": params["dbname"],
        "POSTGRES_HOST": params["host"],
        "POSTGRES_PORT": params.get("port", "5432"),
        "POSTGRES_USER": params["user"],
        "POSTGRES_PASSWORD": params.get("password", ""),
        "POSTGRES_CONNECT_TIMEOUT": "5",
        "POSTGRES_LOCK_TIMEOUT": "10",
        "APPLICATION_RECORDER_TOPIC": (
            "recovery_ledger.infra.store.postgres_recorders:ChainedPostgresApplicationRecorder"
        ),
    }
    schema = (schemas or [os.environ.get("POSTGRES_SCHEMA", "")])[-1]
    if schema:
        env["POSTGRES_SCHEMA"] = ledger_schema(schema)
    return env


def check_sqlite_file(path: Path, *, create: bool) -> None:
    """Refuse, without touching it, a file that is not a ledger; create a new one 0600.

    Opening a foreign SQLite file through the library would create tables in it
    and switch it to WAL, so the check reads it read-only first.
    """
    if path.exists():
        _check_existing(path, create=create)
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
        _check_existing(path, create=create)


def _check_existing(path: Path, *, create: bool) -> None:
    if not path.is_file():
        raise LedgerUnreadableError(f"{path} is not a ledger (not a regular file)")
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(_SQLITE_MAGIC))
    except OSError as error:
        raise LedgerUnreadableError(f"cannot read ledger {path}: {error.strerror}") from None
    if not header:
        if not create:  # a read never turns an empty file into a ledger
            raise LedgerUnreadableError(f"no ledger at {path} (the file is empty)")
        return  # an empty file: a ledger created but never written
    if header != _SQLITE_MAGIC:
        raise LedgerUnreadableError(f"{path} is not a ledger (not a SQLite database)")
    try:
        read_only = LedgerLocation(path=path).read_only
        uri = read_only_uri(path) if read_only else f"{path.as_uri()}?mode=ro"
        conn = sqlite3.connect(uri, uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except sqlite3.Error as error:
        raise LedgerUnreadableError(f"{path} is not a readable ledger: {error}") from None
    if tables and _OUR_TABLE not in tables:
        raise LedgerUnreadableError(f"{path} is a SQLite database but not a ledger")
