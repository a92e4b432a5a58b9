"""A real ledger for read-side and integrity tests: registered loops, two boots against the
reference cloud (one revival, one dead runner), a rotation and a host finalization.

Built in-process through the services the command line calls (``infra/bootstrap.py``), with
real runner processes and the real reference cloud; the command line itself is tested in
``tests/e2e``. ``tests/conftest.py`` builds it once per session and hands out copies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from recovery_ledger.infra.bootstrap import BootOptions, open_ledger
from recovery_ledger.infra.refcloud import ReferenceCloud
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key

LOOPS = (  # loop id, stale token, runner alive
    ("revivable", True, True),
    ("dead", True, False),
    ("healthy", False, True),
    ("rotated", False, True),
)


def build_ledger(ledger_arg: str, keys_dir: Path) -> None:
    keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    pop_key = keys_dir / "managed_key.pem"
    runners: list[subprocess.Popen[bytes]] = []
    try:
        with ReferenceCloud() as cloud, open_ledger(ledger_arg, keys=keys_dir) as ledger:
            cloud.register_key(write_managed_key(pop_key))
            for loop_id, stale, alive in LOOPS:
                runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
                runners.append(runner)
                cloud.add_loop(loop_id)
                token = cloud.issue_token(loop_id, ttl_s=-60 if stale else 3600)
                ledger.register_loop(
                    loop_id, pid=runner.pid, provenance="desktop_managed", token=token
                )
                if not alive:
                    runner.kill()
                    runner.wait()
            boot = BootOptions(cloud_url=cloud.url, pop_key=pop_key)
            ledger.boot(boot)
            ledger.record_token("rotated", cloud.issue_token("rotated"))
            ledger.boot(boot)
            ledger.finalize_loop("healthy", "user stopped it")
    finally:
        for runner in runners:
            runner.kill()
            runner.wait()
