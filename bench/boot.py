"""Boot benchmarks, each reported as a ratio against a baseline measured in the same run.

1. Throughput: a boot of N live loops against the reference cloud answering every status GET
   with L seconds of latency, against the ideal N / concurrency * L.
2. Cold start: the wall time of `recovery-ledger boot --json` with 20 loops, against the bare
   `python -c "import ..."` of the modules that command imports (the interpreter's floor).

    python bench/boot.py [--loops 200] [--latency 0.1] [--concurrency 16] [--repeat 5]

No number from here goes into a test: machines are noisy; ratios are what we quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from recovery_ledger.infra.refcloud import ReferenceCloud

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BOOT_IMPORTS = (
    "import "
    + ", ".join(
        f"recovery_ledger.infra.{name}"
        for name in (
            "cli.main",
            "cli.parser",
            "cli.context",
            "cli.boot_command",
            "store.app",
            "boot.service",
            "boot.wiring",
            "boot.report",
            "cloud.client",
            "crypto.pop_signer",
            "boot.liveness",
            "cloud.runner_jwt",
            "cloud.url_policy",
            "boot.lock",
        )
    )
    + ", eventsourcing.sqlite"
)


def _env(ledger: Path) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "RECOVERY_LEDGER_DB": str(ledger),
        "RECOVERY_LEDGER_KEYS": str(ledger) + ".keys",
    }


def _prepare(
    directory: Path, cloud: ReferenceCloud, count: int
) -> tuple[Path, list[subprocess.Popen[bytes]]]:
    from recovery_ledger.infra.boot.host import host_id
    from recovery_ledger.infra.boot.liveness import process_start_time
    from recovery_ledger.infra.bootstrap import ledger_app
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.store.location import resolve_location

    ledger = directory / "ledger.sqlite"
    keys = Path(str(ledger) + ".keys")
    app = ledger_app(resolve_location(str(ledger)), KeyStore(keys), create=True)
    this_host = host_id(keys)  # a boot examines only its own host's loops
    runner = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    start = process_start_time(runner.pid)
    for i in range(count):
        loop_id = f"bench-{i}"
        cloud.add_loop(loop_id)
        app.register_loop(
            loop_id=loop_id,
            provenance="desktop_managed",
            pid=runner.pid,
            pid_start_time=start,
            host_id=this_host,
            token=cloud.issue_token(loop_id, ttl_s=3600),
        )
    app.close()
    return ledger, [runner]


def _check_examines(argv: list[str], env: dict[str, str], count: int) -> None:
    """A boot that examined nothing would be very fast and measure nothing."""
    import json

    out = subprocess.run(argv, env=env, cwd=REPO, check=True, capture_output=True).stdout
    examined = json.loads(out)["summary"]["examined"]
    if examined != count:
        raise SystemExit(f"the boot examined {examined} loops, not {count}")


def _time(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=REPO, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def bench_throughput(loops: int, latency: float, concurrency: int, repeat: int) -> None:
    from recovery_ledger.infra.refcloud import ReferenceCloud

    with tempfile.TemporaryDirectory() as tmp, ReferenceCloud() as cloud:
        ledger, runners = _prepare(Path(tmp), cloud, loops)
        cloud.inject_fault(None, endpoint="status", latency=latency)
        argv = [
            sys.executable,
            "-m",
            "recovery_ledger",
            "boot",
            "--json",
            "--cloud",
            cloud.url,
            "--concurrency",
            str(concurrency),
        ]
        _check_examines(argv, _env(ledger), loops)
        times = [_time(argv, _env(ledger)) for _ in range(repeat)]
        for runner in runners:
            runner.kill()
    ideal = loops / concurrency * latency
    median = statistics.median(times)
    print(
        f"boot of {loops} live loops, {latency * 1000:.0f} ms cloud latency, "
        f"{concurrency} in flight"
    )
    print(
        f"  median wall {median:.3f} s over {repeat} runs; ideal {ideal:.3f} s; "
        f"ratio {median / ideal:.2f}x"
    )


def bench_cold_start(repeat: int) -> None:
    from recovery_ledger.infra.refcloud import ReferenceCloud

    with tempfile.TemporaryDirectory() as tmp, ReferenceCloud() as cloud:
        ledger, runners = _prepare(Path(tmp), cloud, 20)
        env = _env(ledger)
        boot = [sys.executable, "-m", "recovery_ledger", "boot", "--json", "--cloud", cloud.url]
        bare = [sys.executable, "-c", BOOT_IMPORTS]
        python = [sys.executable, "-c", "pass"]
        _check_examines(boot, env, 20)
        boot_t, bare_t, python_t = [], [], []
        for _ in range(repeat):  # interleaved, so drift hits all three alike
            boot_t.append(_time(boot, env))
            bare_t.append(_time(bare, env))
            python_t.append(_time(python, env))
        for runner in runners:
            runner.kill()
    b, i, p = (statistics.median(t) for t in (boot_t, bare_t, python_t))
    print(f"cold start of `boot --json` with 20 loops (median of {repeat})")
    print(
        f"  boot {b * 1000:.0f} ms; bare import of its modules {i * 1000:.0f} ms; "
        f"bare interpreter {p * 1000:.0f} ms"
    )
    print(f"  ratio boot / bare import {b / i:.2f}x; boot - bare import {(b - i) * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    bench_throughput(args.loops, args.latency, args.concurrency, args.repeat)
    bench_cold_start(max(args.repeat, 10))


if __name__ == "__main__":
    main()
