"""The real collector (``collector serve``) in a subprocess, for the tests, and what they
need around it: a fresh PostgreSQL schema, enrollment, counts of what was stored."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..conftest import PG_DSN_BASE, REPO, drop_schema, require_postgres, run_cli


def require_collector() -> None:
    """The collector's extra must be installed; in CI its absence fails the run."""
    import pytest

    try:
        import prometheus_client  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must run the collector tests: {error}")
        pytest.skip(f"the collector extra is not installed: {error}")


@dataclass
class CollectorLedger:
    schema: str
    keys: Path

    @property
    def dsn(self) -> str:
        return f"{PG_DSN_BASE}?schema={self.schema}"

    def env(self) -> dict[str, str]:
        return {"RECOVERY_LEDGER_DB": self.dsn, "RECOVERY_LEDGER_KEYS": str(self.keys)}

    def enroll(self, thumbprint: str, name: str) -> None:
        """Through the real command line (which also creates the collector's ledger)."""
        result = run_cli(
            "collector", "enroll", f"--thumbprint={thumbprint}", "--name", name, env=self.env()
        )
        assert result.code == 0, result.stderr

    def enroll_quickly(self, thumbprint: str, name: str) -> None:
        """What `collector enroll` writes, without a process per host (load tests)."""
        self.query(
            "INSERT INTO fleet_installations (thumbprint, host_name) VALUES (%s, %s) "
            "RETURNING installation",
            thumbprint,
            name,
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(PG_DSN_BASE, autocommit=True) as conn:
            conn.execute(f'SET search_path TO "{self.schema}"')
            cursor = conn.execute(sql, params)
            return [tuple(row) for row in cursor.fetchall()] if cursor.description else []

    def stored_events(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM recoveryledger_events")[0][0])

    def acked(self, name: str) -> int:
        rows = self.query("SELECT acked_count FROM fleet_installations WHERE host_name = %s", name)
        return int(rows[0][0]) if rows else 0


@contextmanager
def collector_ledger(tmp_path: Path) -> Iterator[CollectorLedger]:
    require_postgres()
    require_collector()
    ledger = CollectorLedger(f"c_{uuid.uuid4().hex[:16]}", tmp_path / "collector-keys")
    try:
        yield ledger
    finally:
        drop_schema(ledger.schema)


class RunningCollector:
    def __init__(self, ledger: CollectorLedger, *extra: str) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO), **ledger.env()}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "recovery_ledger",
                "collector",
                "serve",
                "--listen",
                "127.0.0.1:0",
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        assert self.process.stdout is not None
        self.url = self.process.stdout.readline().strip()
        if not self.url:
            self.process.wait(timeout=30)
            raise AssertionError(f"the collector did not start: {self.process.stderr.read()}")  # type: ignore[union-attr]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@contextmanager
def running_collector(ledger: CollectorLedger, *extra: str) -> Iterator[RunningCollector]:
    collector = RunningCollector(ledger, *extra)
    try:
        yield collector
    finally:
        if collector.process.poll() is None:
            collector.kill()


Fleet = tuple[CollectorLedger, RunningCollector]


@contextmanager
def serving_collector(tmp_path: Path) -> Iterator[Fleet]:
    """A collector's ledger, made by a first enrollment, and a collector serving it."""
    with collector_ledger(tmp_path) as ledger:
        ledger.enroll("A" * 43, "placeholder")  # creates the ledger before serving
        with running_collector(ledger) as collector:
            yield ledger, collector
