"""``recovery-ledger demo``: the main job, end to end, in seconds, on the embedded default.

Starts the reference cloud on loopback, starts real runner processes, registers
loops that cover the interesting rows of the decision table, kills and stales
what it must, runs one real boot through the services the command line uses
(``infra/bootstrap.py``) and prints its decisions. The ledger stays in the
directory it names, for replay and audit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recovery_ledger.infra.cli.context import CommandContext
from recovery_ledger.infra.errors import BadInputError


@dataclass(frozen=True)
class DemoLoop:
    loop_id: str
    provenance: str
    runner_alive: bool
    stale_token: bool
    cloud_status: str = "active"
    fault_status: int | None = None
    story: str = ""


DEMO_LOOPS = (
    DemoLoop(
        "live-stale-jwt",
        "desktop_managed",
        True,
        True,
        story="live runner, stale JWT: revived by a PoP heartbeat",
    ),
    DemoLoop(
        "dead-runner",
        "desktop_managed",
        False,
        True,
        story="dead runner, stale JWT: never revived, finalized dead_pid",
    ),
    DemoLoop(
        "dead-runner-cloud-active",
        "desktop_managed",
        False,
        False,
        story="dead runner the cloud still calls active: finalized (a server zombie)",
    ),
    DemoLoop(
        "cloud-hiccup",
        "desktop_managed",
        True,
        False,
        fault_status=503,
        story="cloud answers 503: kept, reattached conservatively",
    ),
    DemoLoop(
        "timed-out",
        "desktop_managed",
        True,
        False,
        cloud_status="timed_out",
        story="cloud says timed_out: finalized timed_out",
    ),
    DemoLoop(
        "user-loop-stale",
        "user_created",
        True,
        True,
        story="user_created loop, stale JWT: no PoP fallback, finalized unauthorized",
    ),
    DemoLoop(
        "healthy", "desktop_managed", True, False, story="live and active: reattached, confirmed"
    ),
)


def _demo_dir(option: str | None) -> Path:
    if option:
        path = Path(option).expanduser().absolute()
        if path.exists() and any(path.iterdir()):
            raise BadInputError(f"demo directory {path} is not empty")
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="recovery-ledger-demo-"))


def _start_runner() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def cmd_demo(ctx: CommandContext) -> int:
    from recovery_ledger.infra.bootstrap import BootOptions, open_ledger
    from recovery_ledger.infra.refcloud import ReferenceCloud
    from recovery_ledger.infra.refcloud.demo_keys import write_managed_key

    directory = _demo_dir(ctx.args.dir)
    ledger_path = directory / "ledger.sqlite"
    pop_key = directory / "managed_key.pem"
    say = sys.stderr if ctx.json else sys.stdout
    print(f"demo directory: {directory}", file=say)
    runners: list[subprocess.Popen[bytes]] = []
    try:
        with ReferenceCloud() as cloud, open_ledger(ledger_path) as ledger:
            cloud.register_key(write_managed_key(pop_key))
            for demo in DEMO_LOOPS:
                runner = _start_runner()
                runners.append(runner)
                cloud.add_loop(demo.loop_id, status=demo.cloud_status)
                token = cloud.issue_token(demo.loop_id, ttl_s=-60 if demo.stale_token else 3600)
                ledger.register_loop(
                    demo.loop_id, pid=runner.pid, provenance=demo.provenance, token=token
                )
                if demo.fault_status is not None:
                    cloud.inject_fault(demo.loop_id, endpoint="status", status=demo.fault_status)
                if not demo.runner_alive:
                    runner.kill()
                    runner.wait()
            print(f"reference cloud: {cloud.url}; {len(DEMO_LOOPS)} loops registered:", file=say)
            for demo in DEMO_LOOPS:
                print(f"  {demo.loop_id:<26} {demo.story}", file=say)
            print(
                f"\n$ recovery-ledger boot --json --ledger {ledger_path} --cloud {cloud.url} "
                f"--pop-key {pop_key}",
                file=say,
            )
            result = ledger.boot(BootOptions(cloud_url=cloud.url, pop_key=pop_key))
    finally:
        for runner in runners:
            runner.kill()
            runner.wait()
    from recovery_ledger.infra.boot.report import boot_document

    document = boot_document(result)
    if ctx.json:
        from recovery_ledger.infra.cli.output import emit_json

        emit_json(document)
    else:
        _print_decisions(document)
    print(
        "\nThe ledger is kept. Try:\n"
        f"  recovery-ledger replay --ledger {ledger_path}\n"
        f"  recovery-ledger replay --policy v1-legacy --ledger {ledger_path}\n"
        f"  recovery-ledger zombies --ledger {ledger_path}\n"
        f"  recovery-ledger audit --ledger {ledger_path}\n"
        f"  recovery-ledger verify --ledger {ledger_path}",
        file=say,
    )
    return 0


def _print_decisions(document: dict[str, Any]) -> None:
    from recovery_ledger.infra.cli.output import emit_table

    rows = []
    for entry in document["loops"]:
        cloud = entry["cloud"]
        heartbeat = entry["heartbeat"]
        rows.append(
            [
                entry["loop_id"],
                "alive" if entry["pid_alive"] else "dead",
                cloud["status"] or cloud["error"] or cloud["http_status"],
                entry["classification"],
                None
                if heartbeat is None
                else (
                    "revived"
                    if heartbeat["revived"]
                    else heartbeat["error"] or heartbeat["http_status"]
                ),
                entry["outcome"],
                entry["reattach_mode"] or entry["finalize_reason"],
            ]
        )
    emit_table(["loop", "runner", "cloud said", "classified", "heartbeat", "outcome", "why"], rows)
    s = document["summary"]
    print(
        f"boot {document['boot_id']} ({document['policy']}): examined {s['examined']}, "
        f"reattached {s['reattached']} (revived {s['revived']}), finalized {s['finalized']}, "
        f"heartbeats posted {s['heartbeats_posted']}"
    )
