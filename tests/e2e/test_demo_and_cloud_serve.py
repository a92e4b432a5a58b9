"""The README's main-job command and the reference cloud's own command, through the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from ..conftest import REPO, run_cli


def test_demo_boot_revives_the_live_stale_loop_and_never_the_dead_one(tmp_path: Path) -> None:
    result = run_cli("demo", "--dir", str(tmp_path / "demo"), "--json", timeout=120)
    assert result.code == 0, result.stderr
    document = result.json()
    assert isinstance(document, dict)
    outcomes = {
        e["loop_id"]: (e["outcome"], e["reattach_mode"] or e["finalize_reason"])
        for e in document["loops"]
    }
    assert outcomes == {
        "live-stale-jwt": ("reattached", "revived"),
        "dead-runner": ("finalized", "dead_pid"),
        "dead-runner-cloud-active": ("finalized", "dead_pid"),
        "cloud-hiccup": ("reattached", "conservative"),
        "timed-out": ("finalized", "timed_out"),
        "user-loop-stale": ("finalized", "unauthorized"),
        "healthy": ("reattached", "confirmed"),
    }
    assert document["summary"]["heartbeats_posted"] == 1
    ledger = tmp_path / "demo" / "ledger.sqlite"
    assert ledger.exists()
    assert oct(ledger.stat().st_mode & 0o777) == "0o600"
    listed = run_cli("loops", "--json", "--ledger", str(ledger)).json()
    assert len(listed["loops"]) == 7  # type: ignore[index]


def test_demo_refuses_a_directory_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    result = run_cli("demo", "--dir", str(tmp_path))
    assert result.code == 2
    assert len(result.stderr.strip().splitlines()) == 1


def test_cloud_serve_prints_its_url_and_answers_the_contract(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "recovery_ledger", "cloud", "serve", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        added = httpx.post(f"{url}/admin/loops", json={"loop_id": "L"})
        assert added.status_code == 201
        token = httpx.post(f"{url}/admin/loops/L/tokens", json={"ttl_s": 60}).json()["token"]
        ok = httpx.get(f"{url}/v1/loops/L/status", headers={"Authorization": f"Bearer {token}"})
        assert ok.json() == {"loop_id": "L", "status": "active"}
        assert httpx.get(f"{url}/v1/loops/L/status").status_code == 401
        assert httpx.get(f"{url}/v1/loops/nope/status").status_code == 404
    finally:
        proc.terminate()
        proc.wait()


def test_cloud_serve_refuses_a_non_loopback_address() -> None:
    result = run_cli("cloud", "serve", "--host", "0.0.0.0")
    assert result.code == 2
    assert "loopback" in result.stderr
