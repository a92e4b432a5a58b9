"""Shared fixtures: a fresh ledger on each backend, the key directory, the real CLI.

PostgreSQL tests run against the server on this machine (127.0.0.1:5432, user
postgres, database test), each in its own schema. In CI (CI=true) an unreachable
server fails the run; elsewhere those tests skip with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from recovery_ledger.infra.store.app import LedgerApp

REPO = Path(__file__).resolve().parent.parent
PG_DSN_BASE = os.environ.get("RECOVERY_LEDGER_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_reachable() -> str | None:
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(PG_DSN_BASE, connect_timeout=3):
            return None
    except Exception as error:
        return f"PostgreSQL unreachable at {PG_DSN_BASE}: {error}"


_PG_PROBLEM: str | bool | None = False


def require_postgres() -> None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_reachable()
    if _PG_PROBLEM:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the PostgreSQL tests: {_PG_PROBLEM}")
        pytest.skip(str(_PG_PROBLEM))


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_DSN_BASE, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@dataclass
class Ledger:
    """A ledger under test: what to pass as --ledger and --keys."""

    backend: str
    arg: str
    keys_dir: Path
    path: Path | None = None

    def env(self) -> dict[str, str]:
        return {"RECOVERY_LEDGER_DB": self.arg, "RECOVERY_LEDGER_KEYS": str(self.keys_dir)}

    def open_app(self) -> LedgerApp:
        """The ledger application over this ledger and its key directory, created if new."""
        from recovery_ledger.infra.crypto.keystore import KeyStore
        from recovery_ledger.infra.store.app import open_ledger
        from recovery_ledger.infra.store.location import resolve_location

        return open_ledger(resolve_location(self.arg), KeyStore(self.keys_dir), create=True)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A test that uses ``ledger`` runs on SQLite; one marked ``both_backends`` (where the
    engine matters: storage at rest, concurrent writers, locking, projections, transfer)
    runs on PostgreSQL as well."""
    if "ledger" not in metafunc.fixturenames:
        return
    backends: list[Any] = ["sqlite"]
    if metafunc.definition.get_closest_marker("both_backends"):
        backends.append(pytest.param("postgres", marks=pytest.mark.postgres))
    metafunc.parametrize("ledger", backends, indirect=True)


@pytest.fixture
def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    if request.param == "sqlite":
        path = tmp_path / "ledger.sqlite"
        yield Ledger("sqlite", str(path), tmp_path / "keys", path)
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:16]}"
    yield Ledger("postgres", f"{PG_DSN_BASE}?schema={schema}", tmp_path / "keys")
    drop_schema(schema)


@pytest.fixture(scope="session")
def built_original(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The integration tests' fixture ledger (``integration/ledger_builder.py``), built once
    per session (per xdist worker) on SQLite: ``ledger.sqlite`` and ``ledger.sqlite.keys``."""
    from .integration.ledger_builder import build_ledger

    directory = tmp_path_factory.mktemp("built")
    build_ledger(str(directory / "ledger.sqlite"), directory / "ledger.sqlite.keys")
    return directory


def copy_built(original: Path, path: Path, keys_dir: Path) -> None:
    """A private copy of the built ledger: the database (and any WAL) and its key directory."""
    import shutil

    for suffix in ("", "-wal", "-shm"):
        source = original / f"ledger.sqlite{suffix}"
        if source.exists():
            shutil.copy2(source, path.with_name(path.name + suffix))
    shutil.copytree(original / "ledger.sqlite.keys", keys_dir)


@pytest.fixture
def built_ledger(ledger: Ledger, built_original: Path) -> Ledger:
    """``ledger`` holding the fixture ledger: a copy of the session's on SQLite, built afresh
    (in-process, no command line) on PostgreSQL, where a schema cannot be copied."""
    if ledger.path is not None:
        copy_built(built_original, ledger.path, ledger.keys_dir)
    else:
        from .integration.ledger_builder import build_ledger

        build_ledger(ledger.arg, ledger.keys_dir)
    return ledger


@pytest.fixture
def sqlite_ledger(tmp_path: Path) -> Ledger:
    path = tmp_path / "ledger.sqlite"
    return Ledger("sqlite", str(path), tmp_path / "keys", path)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str

    def json(self) -> object:
        import orjson

        return orjson.loads(self.stdout)


def run_cli(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> CliResult:
    """The real command line, in a subprocess, exactly as the desktop host runs it."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    full_env.pop("RECOVERY_LEDGER_DEBUG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "recovery_ledger", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli(ledger: Ledger) -> Callable[..., CliResult]:
    def _run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None) -> CliResult:
        return run_cli(*args, stdin=stdin, env={**ledger.env(), **(env or {})})

    return _run


@pytest.fixture
def runner() -> Iterator[subprocess.Popen[bytes]]:
    """A real runner process, alive for the test, killed after it."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    yield process
    process.kill()
    process.wait()


def event_count(env: dict[str, str]) -> int:
    """How many events the ledger holds, as `verify --json` counts them (verifying on the way)."""
    result = run_cli("verify", "--json", env=env)
    assert result.code == 0, result.stderr
    document = result.json()
    assert isinstance(document, dict)
    return int(document["events"])
