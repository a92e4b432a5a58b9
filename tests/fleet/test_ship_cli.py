"""`collector enroll`, `collector serve` and `ship` through the real command line, with
real desktop ledgers (SQLite) and the collector's ledger on PostgreSQL."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from recovery_ledger.infra.crypto.jwk import ed25519_public_jwk, jwk_thumbprint
from recovery_ledger.infra.crypto.keystore import KeyStore
from recovery_ledger.infra.crypto.ledger_key import CheckpointSigner

from ..certificates import self_signed
from ..conftest import CliResult, run_cli
from ..e2e.test_json_schemas import validate
from ..integration.test_store import make_token
from .collector_process import CollectorLedger, collector_ledger, running_collector

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


class Desktop:
    def __init__(self, directory: Path, host_id: str) -> None:
        self.path = directory / "ledger.sqlite"
        self.keys = directory / "keys"
        self.host_id = host_id

    def env(self) -> dict[str, str]:
        return {
            "RECOVERY_LEDGER_DB": str(self.path),
            "RECOVERY_LEDGER_KEYS": str(self.keys),
            "RECOVERY_LEDGER_HOST_ID": self.host_id,
        }

    def cli(self, *args: str, stdin: str | None = None) -> CliResult:
        return run_cli(*args, stdin=stdin, env=self.env())

    def register(self, loop_id: str) -> None:
        result = self.cli(
            "loop", "register", "--loop", loop_id, "--pid", str(os.getpid()),
            "--provenance", "desktop_managed", stdin=make_token(f"jti-{loop_id}"),
        )  # fmt: skip
        assert result.code == 0, result.stderr

    def thumbprint(self) -> str:
        key = CheckpointSigner(KeyStore(self.keys)).existing_key()
        return jwk_thumbprint(ed25519_public_jwk(key.public_key()))


Fleet = tuple[CollectorLedger, Desktop, Desktop]


@pytest.fixture
def fleet(tmp_path: Path) -> Iterator[tuple[CollectorLedger, Desktop, Desktop]]:
    with collector_ledger(tmp_path) as ledger:
        desktops = []
        for name in ("alpha", "beta"):
            (tmp_path / name).mkdir()
            desktop = Desktop(tmp_path / name, f"host-{name}")
            desktop.register(f"{name}-1")
            desktop.register(f"{name}-2")
            desktops.append(desktop)
        yield ledger, desktops[0], desktops[1]


def one_line(result: CliResult) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("recovery-ledger: "), result.stderr
    return lines[0]


SHIPPED = {"schema_version": 1}


def test_ship_sends_every_event_once_and_read_commands_span_the_fleet(fleet: Fleet) -> None:
    ledger, alpha, beta = fleet
    for name, desktop in (("alpha", alpha), ("beta", beta)):
        shown = desktop.cli("key", "show", "--json")
        assert shown.code == 0, shown.stderr
        document = shown.json()
        assert isinstance(document, dict)
        thumbprint = document["ledger_key"]["thumbprint"]
        assert thumbprint == desktop.thumbprint()
        enrolled = run_cli(
            "collector", "enroll", f"--thumbprint={thumbprint}", "--name", name, "--json",
            env=ledger.env(),
        )  # fmt: skip
        assert enrolled.code == 0, enrolled.stderr
        assert validate("collector-enroll.schema.json", enrolled.stdout)["enrolled"] is True
    with running_collector(ledger) as collector:
        first = alpha.cli("ship", "--to", collector.url, "--json")
        assert first.code == 0, first.stderr
        assert validate("ship.schema.json", first.stdout) == SHIPPED | {"shipped": 4, "position": 4}
        assert alpha.cli("ship", "--to", collector.url, "--json").json() == SHIPPED | {
            "shipped": 0,
            "position": 4,
        }
        assert beta.cli("ship", "--to", collector.url, "--json").json() == SHIPPED | {
            "shipped": 4,
            "position": 4,
        }
        alpha.register("alpha-3")
        assert alpha.cli("ship", "--to", collector.url, "--json").json() == SHIPPED | {
            "shipped": 2,
            "position": 6,
        }
        assert collector.stop() == 0
    loops = run_cli("loops", "--json", env=ledger.env())
    assert loops.code == 0, loops.stderr
    assert "alpha-3" in loops.stdout and "beta-2" in loops.stdout
    verified = run_cli("verify", "--json", env=ledger.env())
    assert verified.code == 0, verified.stderr
    assert ledger.stored_events() == 10


def test_ship_to_a_collector_that_has_not_enrolled_it_exits_6(fleet: Fleet) -> None:
    ledger, alpha, _ = fleet
    ledger.enroll("A" * 43, "someone-else")
    with running_collector(ledger) as collector:
        result = alpha.cli("ship", "--to", collector.url)
    assert result.code == 6
    assert "not_enrolled" in one_line(result) and alpha.thumbprint() in result.stderr
    assert ledger.stored_events() == 0


def test_ship_to_an_unreachable_collector_exits_7_within_its_deadline(fleet: Fleet) -> None:
    import socket

    _, alpha, _ = fleet
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        result = alpha.cli("ship", "--to", f"http://127.0.0.1:{port}", "--deadline", "1")
    assert result.code == 7 and "deadline" in one_line(result)
    closed = alpha.cli("ship", "--to", f"http://127.0.0.1:{port}")
    assert closed.code == 7 and "cannot reach" in one_line(closed)


def test_a_local_ledger_that_fails_verify_is_not_shipped(fleet: Fleet) -> None:
    ledger, alpha, _ = fleet
    ledger.enroll(alpha.thumbprint(), "alpha")
    with sqlite3.connect(alpha.path) as conn:
        conn.execute(
            "UPDATE stored_events SET state = "
            "CAST(replace(state, 'desktop_managed', 'user_created') AS BLOB) WHERE rowid = 1"
        )
    with running_collector(ledger) as collector:
        result = alpha.cli("ship", "--to", collector.url)
    assert result.code == 4 and "fails verification" in one_line(result)
    assert ledger.stored_events() == 0


def test_bad_collector_urls_and_listen_addresses_exit_2(fleet: Fleet, tmp_path: Path) -> None:
    ledger, alpha, _ = fleet
    remote = alpha.cli("ship", "--to", "http://collector.example.com")
    assert remote.code == 2 and "https" in one_line(remote)
    plain = run_cli("collector", "serve", "--listen", "0.0.0.0:0", env=ledger.env())
    assert plain.code == 2 and "--tls-cert" in one_line(plain)
    sqlite = run_cli("collector", "serve", "--ledger", str(tmp_path / "x.sqlite"))
    assert sqlite.code == 2 and "PostgreSQL" in one_line(sqlite)
    assert not (tmp_path / "x.sqlite").exists()


def test_the_collector_serves_https_and_ship_verifies_its_certificate(
    fleet: Fleet, tmp_path: Path
) -> None:
    ledger, alpha, _ = fleet
    ledger.enroll(alpha.thumbprint(), "alpha")
    cert, key = self_signed(tmp_path)
    with running_collector(ledger, "--tls-cert", str(cert), "--tls-key", str(key)) as collector:
        assert collector.url.startswith("https://127.0.0.1:")
        untrusted = alpha.cli("ship", "--to", collector.url)
        assert untrusted.code == 7 and "CERTIFICATE_VERIFY_FAILED" in one_line(untrusted)
        trusted = alpha.cli("ship", "--to", collector.url, "--ca-file", str(cert), "--json")
        assert trusted.code == 0, trusted.stderr
        assert trusted.json() == SHIPPED | {"shipped": 4, "position": 4}
        assert collector.stop() == 0


def test_the_collector_stops_cleanly_on_sigint(fleet: Fleet) -> None:
    import signal

    ledger, _, _ = fleet
    ledger.enroll("A" * 43, "someone")
    with running_collector(ledger) as collector:
        collector.process.send_signal(signal.SIGINT)
        assert collector.process.wait(timeout=30) == 0
        assert collector.process.stderr is not None
        assert "Traceback" not in collector.process.stderr.read()


def test_collector_serve_without_its_extra_exits_4_naming_the_extra(tmp_path: Path) -> None:
    """A desktop install has no collector: one line, exit 4, nothing created."""
    import subprocess
    import sys

    from ..conftest import REPO

    hide = "import sys; sys.modules['starlette'] = None; "
    run = "from recovery_ledger.__main__ import main; main()"
    ledger = f"postgresql://postgres@127.0.0.1:5432/test?schema=never_{os.getpid()}"
    result = subprocess.run(
        [sys.executable, "-c", hide + run, "collector", "serve", "--ledger", ledger],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO.parent)},
        timeout=60,
        check=False,
    )
    assert result.returncode == 4, result.stderr
    assert "recovery-ledger[collector]" in result.stderr and "Traceback" not in result.stderr
