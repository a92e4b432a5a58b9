"""The crash campaign: boots of a mixed ledger killed at every transaction boundary and at
random instants, and what must hold after each (docs/reliability.md).

Every trial registers five loops (live and active, dead runner, revivable with a stale
token, transient behind a failing cloud, terminal on the cloud), runs ``recovery-ledger boot``
as a real process against the reference cloud (with latency), and kills it: deterministically
at one of the boot's transaction boundaries (``RECOVERY_LEDGER_CRASH_AT``, the process dies
as ``kill -9`` would), or with SIGKILL at a random instant. Then, in this order:

1. ``verify`` passes on the ledger as the kill left it;
2. no event recorded before the trial is lost or changed, no (aggregate, version) is
   duplicated, versions run without gaps;
3. ``interrupted_heartbeat`` is reported at once for a heartbeat begun and never answered
   (no boot holds the ledger any more);
4. the next boot completes;
5. ``replay`` re-derives every decision of every boot, the killed ones included;
6. the cloud saw no proof the ledger did not record as begun, at most one per loop per boot,
   and none for a dead runner;
7. every loop is in its expected state, and ``zombies`` shows exactly the expected findings.

    python -m recovery_ledger.tests.campaigns.crash_campaign --trials 1000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recovery_ledger.infra.boot.service import CRASH_AT_ENV, CRASH_POINTS
from recovery_ledger.infra.bootstrap import BootOptions, Ledger, open_ledger
from recovery_ledger.infra.integrity.verify import verify_ledger
from recovery_ledger.infra.projection_store.store import caught_up
from recovery_ledger.infra.refcloud import ReferenceCloud
from recovery_ledger.infra.refcloud.demo_keys import write_managed_key
from recovery_ledger.projections.replay import replay_decision

KINDS = ("active", "dead", "revivable", "transient", "terminal")
TRIALS_PER_LEDGER = 40
RANDOM_KILL_WINDOW_S = 1.5
LATENCY_S = 0.02


@dataclass
class Tally:
    trials: int = 0
    by_stage: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    interrupted_heartbeats: int = 0


class Bench:
    """One ledger, its key directory, a managed key and the reference cloud."""

    def __init__(self, root: Path, cloud: ReferenceCloud) -> None:
        self.root = root
        self.cloud = cloud
        self.pop_key = root / "managed_key.pem"
        cloud.register_key(write_managed_key(self.pop_key))
        self.ledger_path = root / "ledger.sqlite"
        self.keys = root / "keys"
        self.ledger: Ledger = open_ledger(self.ledger_path, keys=self.keys)
        self.live = subprocess.Popen(["sleep", "100000"])
        self.serial = 0

    def close(self) -> None:
        self.ledger.close()
        self.live.kill()
        self.live.wait()

    def options(self) -> BootOptions:
        return BootOptions(cloud_url=self.cloud.url, pop_key=self.pop_key, deadline_s=20)

    def register_trial_loops(self) -> dict[str, str]:
        """Five fresh loops, one of each kind; their ids by kind."""
        self.serial += 1  # loop ids unique across the campaign: the cloud is shared
        ids = {kind: f"{kind}-{self.root.name}-{self.serial}" for kind in KINDS}
        for kind, loop_id in ids.items():
            self.cloud.add_loop(loop_id, status="completed" if kind == "terminal" else "active")
            token = self.cloud.issue_token(loop_id, ttl_s=-60 if kind == "revivable" else 3600)
            runner = self.live if kind != "dead" else subprocess.Popen(["sleep", "100000"])
            self.ledger.register_loop(
                loop_id, pid=runner.pid, provenance="desktop_managed", token=token
            )
            if kind == "dead":
                runner.kill()
                runner.wait()
            if kind == "transient":
                self.cloud.inject_fault(loop_id, endpoint="status", status=503)
        return ids

    def boot_process(self, crash_at: str | None) -> subprocess.Popen[bytes]:
        env = {**os.environ, "RECOVERY_LEDGER_DB": str(self.ledger_path)}
        env["RECOVERY_LEDGER_KEYS"] = str(self.keys)
        env.pop(CRASH_AT_ENV, None)
        if crash_at is not None:
            env[CRASH_AT_ENV] = crash_at
        args = ["boot", "--json", "--cloud", self.cloud.url, "--pop-key", str(self.pop_key)]
        return subprocess.Popen(
            [sys.executable, "-m", "recovery_ledger", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def zombies_cli(self) -> list[dict[str, Any]]:
        env = {**os.environ, "RECOVERY_LEDGER_DB": str(self.ledger_path)}
        env["RECOVERY_LEDGER_KEYS"] = str(self.keys)
        out = subprocess.run(
            [sys.executable, "-m", "recovery_ledger", "zombies", "--json"],
            env=env,
            capture_output=True,
            check=True,
        )
        findings: list[dict[str, Any]] = json.loads(out.stdout)["findings"]
        return findings


def _events(ledger: Ledger) -> list[tuple[int, str, int, str]]:
    recorder = ledger.app().recorder
    rows: list[tuple[int, str, int, str]] = []
    start = 1
    while True:
        page = recorder.select_notifications(start, 1000)
        rows += [(n.id, str(n.originator_id), n.originator_version, n.topic) for n in page]
        if len(page) < 1000:
            return rows
        start = page[-1].id + 1


def run_trial(bench: Bench, stage: str, rng: random.Random, tally: Tally) -> None:
    """One boot killed at ``stage`` (a crash point, or ``random``), then every check."""
    ids = bench.register_trial_loops()
    before = _events(bench.ledger)
    bench.ledger.close()  # the killed boot and the checks open it afresh, as the CLI does
    process = bench.boot_process(None if stage == "random" else stage)
    if stage == "random":
        try:
            process.wait(timeout=rng.uniform(0.0, RANDOM_KILL_WINDOW_S))
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
    process.wait()
    _, stderr = process.communicate()
    tally.trials += 1
    tally.by_stage[stage] += 1

    def fail(what: str) -> None:
        tally.failures.append(f"trial {tally.trials} ({stage}): {what}")

    if stage != "random" and process.returncode != 137:
        fail(f"the boot was meant to die at {stage} but exited {process.returncode}: {stderr!r}")
    if process.returncode not in (0, 137, -signal.SIGKILL):
        fail(f"the boot exited {process.returncode}: {stderr!r}")

    app = bench.ledger.app()
    report = verify_ledger(app)  # 1
    if not report.ok:
        fail(f"verify: {report.problems}")
    after = _events(bench.ledger)  # 2
    if after[: len(before)] != before:
        fail("events recorded before the trial changed")
    keys = [(aggregate, version) for _, aggregate, version, _ in after]
    if len(keys) != len(set(keys)):
        fail("an event is duplicated")
    versions: dict[str, list[int]] = {}
    for aggregate, version in keys:
        versions.setdefault(aggregate, []).append(version)
    if any(v != list(range(1, len(v) + 1)) for v in versions.values()):
        fail("an aggregate's versions have a gap")

    store = caught_up(app)
    pending = [d for d in store.decisions() if d.heartbeat_begun and not d.heartbeat_answered]
    if pending and stage in ("begun", "posted"):  # 3, through the real command
        reported = {
            (f["boot_id"], f["loop_id"])
            for f in bench.zombies_cli()
            if f["kind"] == "interrupted_heartbeat"
        }
        if reported != {(d.boot_id, d.loop_id) for d in pending}:
            fail(f"interrupted_heartbeat right after the kill: {reported} for {pending}")
    tally.interrupted_heartbeats += len(pending)
    store.close()

    try:  # 4
        result = bench.ledger.boot(bench.options())
    except Exception as error:
        fail(f"the next boot failed: {type(error).__name__}: {error}")
        return
    if not bench.ledger.app().repository.get(result.boot_id).summary:
        fail("the next boot did not complete")

    store = caught_up(bench.ledger.app())
    loops = {row.aggregate_id: row for row in store.loops()}
    for decision in store.decisions():  # 5
        replayed = replay_decision(decision, loops[decision.aggregate_id].provenance)
        if not replayed.matches:
            fail(f"replay {decision.loop_id} in {decision.boot_id}: {replayed.differences()}")

    begun = Counter(d.loop_id for d in store.decisions() if d.heartbeat_begun)  # 6
    for kind, loop_id in ids.items():
        posts = bench.cloud.stats(loop_id)["heartbeat_posts"]
        if posts > begun[loop_id]:
            fail(f"{loop_id}: {posts} proofs posted, {begun[loop_id]} begun")
        if kind == "dead" and posts:
            fail(f"{loop_id}: a proof posted for a dead runner")

    states = {row.loop_id: row for row in store.loops()}  # 7
    expected = {
        "active": ("open", None),
        "dead": ("finalized", "dead_pid"),
        "revivable": ("open", None),
        "transient": ("open", None),
        "terminal": ("finalized", "cloud_terminal"),
    }
    for kind, loop_id in ids.items():
        row = states[loop_id]
        if (row.state, row.finalize_reason) != expected[kind]:
            fail(f"{loop_id}: {row.state} {row.finalize_reason}, expected {expected[kind]}")
        if kind == "revivable" and row.token_source != "revived":
            fail(f"{loop_id}: token {row.token_source}, expected revived")
    allowed = {("server_zombie", ids["dead"])}
    pending_after = {
        (d.boot_id, d.loop_id)
        for d in store.decisions()
        if d.heartbeat_begun and not d.heartbeat_answered
    }
    for finding in store.findings():
        if finding.kind == "interrupted_heartbeat":
            if (finding.boot_id, finding.loop_id) not in pending_after:
                fail(f"interrupted_heartbeat without cause: {finding}")
        elif finding.loop_id in ids.values() and (finding.kind, finding.loop_id) not in allowed:
            fail(f"unexpected finding {finding.kind} for {finding.loop_id}")
    found = {(f.boot_id, f.loop_id) for f in store.findings() if f.kind == "interrupted_heartbeat"}
    if not pending_after <= found:
        fail(f"interrupted heartbeats not reported: {pending_after - found}")
    store.close()

    for kind in ("active", "revivable", "transient"):  # the next trial boots five loops
        bench.ledger.finalize_loop(ids[kind], "campaign trial over")


def stages_for(trials: int) -> list[str]:
    """Every crash point in turn, each followed by a random kill."""
    return [
        CRASH_POINTS[i // 2 % len(CRASH_POINTS)] if i % 2 == 0 else "random" for i in range(trials)
    ]


def campaign(stages: list[str], seed: int = 11, progress: bool = False) -> Tally:
    rng = random.Random(seed)
    tally = Tally()
    with ReferenceCloud() as cloud, tempfile.TemporaryDirectory(prefix="rl-crash-") as tmp:
        cloud.inject_fault(None, endpoint="both", latency=LATENCY_S)
        bench: Bench | None = None
        for index, stage in enumerate(stages):
            if index % TRIALS_PER_LEDGER == 0:
                if bench is not None:
                    bench.close()
                root = Path(tmp) / f"ledger-{index // TRIALS_PER_LEDGER}"
                root.mkdir()
                bench = Bench(root, cloud)
            assert bench is not None
            known = len(tally.failures)
            run_trial(bench, stage, rng, tally)
            if progress:
                for failure in tally.failures[known:]:
                    print(failure[:2000], flush=True)
            if progress and tally.trials % 50 == 0:
                print(f"{tally.trials} trials, {len(tally.failures)} failures", flush=True)
        if bench is not None:
            bench.close()
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    started = time.monotonic()
    tally = campaign(stages_for(args.trials), args.seed, progress=True)
    print(
        json.dumps(
            {
                "trials": tally.trials,
                "by_stage": dict(sorted(tally.by_stage.items())),
                "interrupted_heartbeats_seen": tally.interrupted_heartbeats,
                "failures": len(tally.failures),
                "first_failures": tally.failures[:20],
                "seconds": round(time.monotonic() - started, 1),
            },
            indent=2,
        )
    )
    sys.exit(1 if tally.failures else 0)


if __name__ == "__main__":
    main()
