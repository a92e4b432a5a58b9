"""The entry point imports with the cyclic garbage collector off (a cold start's CPU) and must
hand every command a running collector, with the imported objects frozen out of it: a
command left without one (``collector serve`` runs for days) would never free a cycle."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROBE = """
import gc, sys
import recovery_ledger.infra.cli.loop_commands as commands
seen = {}
original = commands.cmd_loops
def spy(context):
    seen["enabled"], seen["frozen"] = gc.isenabled(), gc.get_freeze_count()
    return original(context)
commands.cmd_loops = spy
gc.enable()  # importing the probe's modules above is not the entry point's business
sys.argv = ["recovery-ledger", "loops", "--json"]
import recovery_ledger.__main__ as entry
try:
    entry.main()
except SystemExit:  # the ledger does not exist: the command says so; it ran all the same
    print(seen["enabled"], seen["frozen"] > 1000)
"""


def test_a_command_runs_with_the_collector_on_and_the_imports_frozen(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "RECOVERY_LEDGER_DB": str(tmp_path / "ledger.sqlite"),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / "keys"),
    }
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True", "True"]


def test_a_command_closes_the_ledger_itself_leaving_no_write_ahead_log(tmp_path: Path) -> None:
    # The entry point skips the interpreter's last collection, which used to be what closed
    # the ledger: closed by the command instead, SQLite folds its log back into the file.
    ledger = tmp_path / "ledger.sqlite"
    env = {
        **os.environ,
        "RECOVERY_LEDGER_DB": str(ledger),
        "RECOVERY_LEDGER_KEYS": str(tmp_path / "k"),
    }
    boot = [sys.executable, "-m", "recovery_ledger", "boot", "--json"]
    subprocess.run(boot, env=env, capture_output=True, check=True)  # a boot of no loops writes
    assert ledger.stat().st_size > 0
    assert not ledger.with_name("ledger.sqlite-wal").exists()
