"""A real ledger for read-side and integrity tests: registered loops, two boots against the
reference cloud (one revival, one dead runner), a rotation and a host finalization."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recovery_ledger.infra.refcloud import ReferenceCloud
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key

from ..conftest import run_cli


def build_ledger(ledger_arg: str, keys_dir: Path) -> None:
    env = {"RECOVERY_LEDGER_DB": ledger_arg, "RECOVERY_LEDGER_KEYS": str(keys_dir)}
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pop_key = keys_dir / "managed_key.pem"
    runners = []
    with ReferenceCloud() as cloud:
        cloud.register_key(write_managed_key(pop_key))
        for loop_id, stale, alive in (
            ("revivable", True, True),
            ("dead", True, False),
            ("healthy", False, True),
            ("rotated", False, True),
        ):
            runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
            runners.append(runner)
            cloud.add_loop(loop_id)
            token = cloud.issue_token(loop_id, ttl_s=-60 if stale else 3600)
            assert (
                run_cli(
                    "loop",
                    "register",
                    "--loop",
                    loop_id,
                    "--pid",
                    str(runner.pid),
                    "--provenance",
                    "desktop_managed",
                    stdin=token,
                    env=env,
                ).code
                == 0
            )
            if not alive:
                runner.kill()
                runner.wait()
        boot = ["boot", "--cloud", cloud.url, "--pop-key", str(pop_key)]
        assert run_cli(*boot, env=env).code == 0
        assert (
            run_cli(
                "loop", "token", "--loop", "rotated", stdin=cloud.issue_token("rotated"), env=env
            ).code
            == 0
        )
        assert run_cli(*boot, env=env).code == 0
        assert (
            run_cli(
                "loop", "finalize", "--loop", "healthy", "--reason", "user stopped it", env=env
            ).code
            == 0
        )
    for runner in runners:
        runner.kill()
        runner.wait()
