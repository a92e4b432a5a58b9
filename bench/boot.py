"""Boot benchmarks, each reported as a ratio against a baseline measured in the same run.

1. Throughput: a boot of N live loops against a minimal cloud (``bench/minimal_cloud.py``, its
   own process, no signature checks: the client side is what is measured) answering every
   status GET after L seconds, against the ideal N / concurrency x L; and raw httpx alone
   doing the same GETs, against the same ideal. The whole command's wall time is the figure;
   the boot's own span as it recorded it (its JSON's started_at to finished_at) is shown
   beside it, to tell the network phase from the process's fixed costs.
2. Cold start: the wall time of `recovery-ledger boot --json` with 20 loops, against the bare
   `python -c "import ..."` of the modules that command imports (the interpreter's floor), and
   the same imports with the cyclic collector off, as the entry point does them.
3. History: `boot --json` on the cached 1,000,064-event ledger of bench/read_side.py (none of
   its loops belong to this host, so it examines 0 loops), against the same command on an
   empty ledger. Skipped when that ledger is not built yet.
4. Aged loops: `boot --json` of 20 live loops that each lived through 365 and 1,000 boots
   (written through the real write path, as boots write them), against the same 20 loops
   fresh: what an open loop's own history costs a boot.

    python bench/boot.py [--loops 1000] [--latency 0.02] [--concurrency 16] [--repeat 5]

No number from here goes into a test: machines are noisy; ratios are what we quote.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def boot_imports(argv: list[str], env: dict[str, str]) -> str:
    """``import ...`` of every module the boot command imports at top level, read from a
    ``-X importtime`` run of that very command: the floor follows the code it measures."""
    run = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]], env=env, capture_output=True, text=True
    )
    names = []
    for line in run.stderr.splitlines():
        # "import time: self | cumulative | <two spaces per nesting level>name"
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1]
            if name.startswith(" ") and not name.startswith("  ") and " " not in name.strip():
                names.append(name.strip())
    return "import " + ", ".join(dict.fromkeys(n for n in names if n != "__main__"))


def env_for(ledger: Path) -> dict[str, str]:
    return {
        **os.environ,
        "RECOVERY_LEDGER_DB": str(ledger),
        "RECOVERY_LEDGER_KEYS": str(ledger) + ".keys",
    }


@contextlib.contextmanager
def minimal_cloud(latency: float, *extra: str) -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "bench" / "minimal_cloud.py"),
            "--latency",
            str(latency),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def _token(loop_id: str) -> str:
    import jwt

    claims = {"jti": f"bench-{loop_id}", "exp": int(time.time()) + 86_400, "sub": "bench"}
    return jwt.encode(claims, "bench-signing-secret-of-32-bytes!", algorithm="HS256")


def prepare(directory: Path, count: int) -> tuple[Path, subprocess.Popen[bytes]]:
    """A ledger of ``count`` live loops of this host, one sleeping runner behind them all."""
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
        app.register_loop(
            loop_id=f"bench-{i}",
            provenance="desktop_managed",
            pid=runner.pid,
            pid_start_time=start,
            host_id=this_host,
            token=_token(f"bench-{i}"),
        )
    app.close()
    return ledger, runner


def live_through_boots(ledger: Path, boots: int) -> None:
    """Every open loop of the ledger observed and reattached by ``boots`` boots, each boot
    one save of all of them, as a boot records it."""
    from recovery_ledger.infra.bootstrap import ledger_app
    from recovery_ledger.infra.crypto.keystore import KeyStore
    from recovery_ledger.infra.store.location import resolve_location
    from recovery_ledger.tests.boot_history import quiet_boot

    app = ledger_app(resolve_location(str(ledger)), KeyStore(Path(str(ledger) + ".keys")))
    loops = app.open_loops()
    for _ in range(boots):
        app.save(quiet_boot(loops, host_id=loops[0].host_id), *loops)
    app.close()


def _boot_argv(cloud_url: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "recovery_ledger", "boot", "--json", "--cloud", cloud_url, *extra]


def check_examines(argv: list[str], env: dict[str, str], count: int) -> None:
    """A boot that examined nothing would be very fast and measure nothing."""
    out = subprocess.run(argv, env=env, check=True, capture_output=True).stdout
    examined = json.loads(out)["summary"]["examined"]
    if examined != count:
        raise SystemExit(f"the boot examined {examined} loops, not {count}")


def wall(argv: list[str], env: dict[str, str]) -> float:
    return timed(argv, env)[0]


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child): on a machine shared with other work the CPU
    time is the steadier of the two, so the cold start reports both."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu


RAW_HTTPX = """
import asyncio, sys, time, httpx
url, loops, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
async def main():
    limit = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=64)) as client:
        async def get(i):
            async with limit:
                r = await client.get(f"{url}/v1/loops/bench-{i}/status")
                assert r.status_code == 200
        started = time.perf_counter()
        await asyncio.gather(*(get(i) for i in range(loops)))
        print(time.perf_counter() - started)
asyncio.run(main())
"""


def bench_throughput(loops: int, latency: float, concurrency: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, minimal_cloud(latency) as url:
        ledger, runner = prepare(Path(tmp), loops)
        env = env_for(ledger)
        argv = _boot_argv(url, "--concurrency", str(concurrency))
        check_examines(argv, env, loops)
        times, spans, raw = [], [], []
        for _ in range(repeat):  # interleaved, so drift hits both alike
            elapsed, span = timed_boot(argv, env)
            times.append(elapsed)
            spans.append(span)
            out = subprocess.run(
                [sys.executable, "-c", RAW_HTTPX, url, str(loops), str(concurrency)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            raw.append(float(out))
        runner.kill()
    ideal = loops / concurrency * latency
    median, raw_median = statistics.median(times), statistics.median(raw)
    span = statistics.median(spans)
    print(
        f"boot of {loops} live loops, {latency * 1000:.0f} ms latency (minimal cloud, own "
        f"process), {concurrency} in flight, median of {repeat}"
    )
    print(
        f"  whole command {median:.3f} s; ideal {ideal:.3f} s; ratio {median / ideal:.2f}x "
        f"| raw httpx GETs alone (in-process) {raw_median:.3f} s: {raw_median / ideal:.2f}x"
    )
    print(
        f"  the boot as recorded (Boot.Started to Boot.Completed: observing, deciding, "
        f"committing) {span:.3f} s: {span / ideal:.2f}x; the rest of the command (start, "
        f"imports, loading and unsealing, report, exit) {median - span:.3f} s"
    )


def timed_boot(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds between the boot's recorded start and
    finish, from its JSON)."""
    from datetime import datetime

    started = time.perf_counter()
    out = subprocess.run(argv, env=env, check=True, capture_output=True).stdout
    elapsed = time.perf_counter() - started
    document = json.loads(out)
    finished = datetime.fromisoformat(document["finished_at"])
    return elapsed, (finished - datetime.fromisoformat(document["started_at"])).total_seconds()


def bench_cold_start(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp, minimal_cloud(0.0) as url:
        ledger, runner = prepare(Path(tmp), 20)
        env = env_for(ledger)
        boot = _boot_argv(url)
        imports = boot_imports(boot, env)
        commands = {
            "boot": boot,
            # the floor as the issue defines it: the same imports, the interpreter's defaults
            "bare": [sys.executable, "-c", imports],
            # the same imports as the entry point does them, with the cyclic collector off
            "bare, gc off": [sys.executable, "-c", "import gc; gc.disable(); " + imports],
            "python": [sys.executable, "-c", "pass"],
        }
        check_examines(boot, env, 20)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for _ in range(repeat):  # interleaved, so drift hits all of them alike
            for name, argv in commands.items():
                runs[name].append(timed(argv, env))
        runner.kill()
    print(f"cold start of `boot --json` with 20 loops (median of {repeat})")
    for kind, index in (("wall", 0), ("CPU", 1)):
        b, i, g, p = (statistics.median(t[index] for t in runs[n]) for n in runs)
        print(
            f"  {kind}: boot {b * 1000:.0f} ms; bare import of its modules {i * 1000:.0f} ms "
            f"(floor + {(b - i) * 1000:.0f} ms); the same with gc off {g * 1000:.0f} ms "
            f"(floor + {(b - g) * 1000:.0f} ms); bare interpreter {p * 1000:.0f} ms"
        )


def bench_history(repeat: int) -> None:
    cached = REPO / "bench" / ".cache" / "read_side-1000000-1000.sqlite"
    if not cached.exists():
        print("history: skipped (build the ledger first: python bench/read_side.py)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        empty = Path(tmp) / "empty.sqlite"  # and a key directory of its own, made by the boot
        argv = [sys.executable, "-m", "recovery_ledger", "boot", "--json"]
        check_examines(argv, env_for(cached), 0)
        check_examines(argv, env_for(empty), 0)
        full_t, empty_t = [], []
        for _ in range(repeat):
            full_t.append(wall(argv, env_for(cached)))
            empty_t.append(wall(argv, env_for(empty)))
    f, e = statistics.median(full_t), statistics.median(empty_t)
    print(f"boot examining 0 loops (median of {repeat})")
    print(
        f"  on {cached.name}: {f * 1000:.0f} ms; on an empty ledger {e * 1000:.0f} ms; "
        f"ratio {f / e:.2f}x"
    )


def bench_aged(repeat: int, ages: tuple[int, ...] = (0, 365, 1000)) -> None:
    with tempfile.TemporaryDirectory() as tmp, minimal_cloud(0.0) as url:
        ledgers, runners = {}, []
        for age in ages:
            directory = Path(tmp) / f"age-{age}"
            directory.mkdir()
            ledger, runner = prepare(directory, 20)
            runners.append(runner)
            live_through_boots(ledger, age)
            ledgers[age] = ledger
        argv = _boot_argv(url)
        for ledger in ledgers.values():
            check_examines(argv, env_for(ledger), 20)
        runs: dict[int, list[tuple[float, float]]] = {age: [] for age in ages}
        for _ in range(repeat):  # interleaved, so drift hits all of them alike
            for age, ledger in ledgers.items():
                runs[age].append(timed(argv, env_for(ledger)))
        for runner in runners:
            runner.kill()
    fresh_wall, fresh_cpu = (statistics.median(t[i] for t in runs[ages[0]]) for i in (0, 1))
    print(f"boot of 20 live loops by the boots each has lived through (median of {repeat})")
    for age in ages:
        wall_s, cpu_s = (statistics.median(t[i] for t in runs[age]) for i in (0, 1))
        print(
            f"  {age:5} boots of history: wall {wall_s * 1000:.0f} ms ({wall_s / fresh_wall:.2f}x "
            f"fresh), CPU {cpu_s * 1000:.0f} ms ({cpu_s / fresh_cpu:.2f}x fresh)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--only", choices=("throughput", "cold", "history", "aged"), help="run one benchmark"
    )
    args = parser.parse_args()
    if args.only in (None, "history"):
        bench_history(args.repeat)
    if args.only in (None, "cold"):
        bench_cold_start(max(args.repeat, 10))
    if args.only in (None, "aged"):
        bench_aged(args.repeat)
    if args.only in (None, "throughput"):
        bench_throughput(args.loops, args.latency, args.concurrency, args.repeat)


if __name__ == "__main__":
    main()
