"""The installed console script, run from outside the source tree, as a user runs it after
`pip install .`: register with a token on stdin, list, read the token back, finalize."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..integration.test_store import make_token

pytestmark = pytest.mark.slow

SCRIPT = Path(sys.executable).with_name("recovery-ledger")


@pytest.fixture
def installed() -> Path:
    if not SCRIPT.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI installs the package, but {SCRIPT} is missing")
        pytest.skip(f"the package is not installed in this interpreter's environment ({SCRIPT})")
    return SCRIPT


def test_the_installed_command_keeps_and_gives_back_the_token(
    installed: Path, tmp_path: Path, runner: subprocess.Popen[bytes]
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "RECOVERY_LEDGER_DB")}
    env["RECOVERY_LEDGER_DB"] = str(tmp_path / "ledger.sqlite")
    token = make_token("installed-jti")

    def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(installed), *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,  # not the source tree: the installed package must be complete
            check=False,
        )

    registered = run(
        "loop", "register", "--loop", "L", "--pid", str(runner.pid),
        "--provenance", "desktop_managed", stdin=token,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    assert '"loop_id": "L"' in run("loops", "--json").stdout
    assert run("token", "get", "--loop", "L").stdout == token + "\n"
    assert run("loop", "finalize", "--loop", "L", "--reason", "done").returncode == 0
    cleared = run("token", "get", "--loop", "L")
    assert cleared.returncode == 2 and "cleared" in cleared.stderr
    assert (tmp_path / "ledger.sqlite.keys" / "installation.key").exists()
