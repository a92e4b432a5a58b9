"""CPU per status GET on the client side, for the ways a boot could talk to the cloud: each
variant makes N GETs, C in flight, against bench/minimal_cloud.py (its own process), and is
measured by this process's CPU time (steadier than wall time on a shared machine) and wall
time against the ideal N / C x latency.

    python bench/cloud_client.py [--loops 1000] [--latency 0.02] [--concurrency 16]

Variants (each in its own interpreter): httpx with `sniffio` hidden (as installed before
issue 14: httpcore retries the failed import on every request), httpx, the ledger's
CloudClient.get_status (the boot's real path: infra/cloud/http11.py, a capped, streamed body
and a checked document), httpcore without httpx's models, asyncio streams framed by h11
(what http11.py is built on, without its checks), and a bare asyncio HTTP/1.1 client that
parses nothing (the floor of any Python client). With h2 and hypercorn installed (not
dependencies: `pip install h2 hypercorn`), also httpx over HTTP/2 and over HTTP/1.1 against
one hypercorn server (the minimal cloud's `--http2`), so the protocol is all that differs.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import boot as boot_bench


class _NoSniffio:
    """A meta path finder that makes `import sniffio` fail, as when it is not installed."""

    def find_spec(self, name: str, *args: Any) -> None:
        if name == "sniffio" or name.startswith("sniffio."):
            raise ModuleNotFoundError("sniffio hidden by the benchmark", name=name)


async def _httpx(url: str, loops: int, concurrency: int, *, http2: bool = False) -> None:
    import httpx

    limit = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(limits=limits, http1=not http2, http2=http2) as client:

        async def get(i: int) -> None:
            async with limit:
                response = await client.get(f"{url}/v1/loops/bench-{i}/status")
                assert response.status_code == 200
                assert response.http_version == ("HTTP/2" if http2 else "HTTP/1.1")

        await asyncio.gather(*(get(i) for i in range(loops)))


async def _cloud_client(url: str, loops: int, concurrency: int) -> None:
    from recovery_ledger.infra.cloud.client import CloudClient

    limit = asyncio.Semaphore(concurrency)
    async with CloudClient(url) as client:

        async def get(i: int) -> None:
            async with limit:
                answer = await client.get_status(f"bench-{i}", "token")
                assert answer.status == "active", answer

        await asyncio.gather(*(get(i) for i in range(loops)))


Exchange = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str, str], Awaitable[bytes]]


async def _per_connection(url: str, loops: int, concurrency: int, exchange: Exchange) -> None:
    """``concurrency`` connections, each taking the next GET until all are done."""
    host, port = url.removeprefix("http://").split(":")
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(loops):
        queue.put_nowait(i)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        while not queue.empty():
            target = f"/v1/loops/bench-{queue.get_nowait()}/status"
            assert json.loads(await exchange(reader, writer, host, target))["status"] == "active"
        writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _bare(url: str, loops: int, concurrency: int) -> None:
    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, target: str
    ) -> bytes:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
        return await reader.readexactly(length)

    await _per_connection(url, loops, concurrency, exchange)


async def _httpcore(url: str, loops: int, concurrency: int) -> None:
    import httpcore

    limit = asyncio.Semaphore(concurrency)
    async with httpcore.AsyncConnectionPool(max_connections=64) as pool:

        async def get(i: int) -> None:
            async with limit:
                response = await pool.request("GET", f"{url}/v1/loops/bench-{i}/status")
                assert json.loads(response.content)["status"] == "active"

        await asyncio.gather(*(get(i) for i in range(loops)))


async def _h11(url: str, loops: int, concurrency: int) -> None:
    import h11

    connections: dict[asyncio.StreamWriter, h11.Connection] = {}

    async def exchange(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, target: str
    ) -> bytes:
        connection = connections.setdefault(writer, h11.Connection(h11.CLIENT))
        writer.write(
            connection.send(h11.Request(method="GET", target=target, headers=[("Host", host)]))
            + connection.send(h11.EndOfMessage())
        )
        body = b""
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                connection.receive_data(await reader.read(65536))
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                connection.start_next_cycle()
                return body

    await _per_connection(url, loops, concurrency, exchange)


async def _httpx_http2(url: str, loops: int, concurrency: int) -> None:
    await _httpx(url, loops, concurrency, http2=True)


VARIANTS = {
    "httpx-without-sniffio": _httpx,
    "httpx": _httpx,
    "CloudClient.get_status": _cloud_client,
    "httpcore-direct": _httpcore,
    "asyncio+h11": _h11,
    "bare-asyncio-http1.1": _bare,
}
# Against hypercorn (HTTP/2 and HTTP/1.1 from one server), when it and h2 are installed.
HTTP2_VARIANTS = {"httpx-http1.1 (hypercorn)": _httpx, "httpx-http2 (hypercorn)": _httpx_http2}


def _measure(name: str, url: str, loops: int, concurrency: int) -> dict[str, float]:
    if name == "httpx-without-sniffio":
        sys.meta_path.insert(0, _NoSniffio())
    started, cpu = time.perf_counter(), time.process_time()
    asyncio.run({**VARIANTS, **HTTP2_VARIANTS}[name](url, loops, concurrency))
    return {"wall": time.perf_counter() - started, "cpu": time.process_time() - cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loops", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        name, url = args.measure
        print(json.dumps(_measure(name, url, args.loops, args.concurrency)))
        return
    ideal = args.loops / args.concurrency * args.latency
    print(
        f"{args.loops} status GETs, {args.concurrency} in flight, {args.latency * 1000:.0f} ms "
        f"latency (minimal cloud, own process); ideal wall {ideal:.2f} s; medians of {args.repeat}"
    )
    with boot_bench.minimal_cloud(args.latency) as url:
        for name in VARIANTS:
            _report(name, url, args, ideal)
    if importlib.util.find_spec("h2") is None or importlib.util.find_spec("hypercorn") is None:
        print("  HTTP/2: not measured (pip install h2 hypercorn, which the project does not need)")
        return
    with boot_bench.minimal_cloud(args.latency, "--http2") as url:
        for name in HTTP2_VARIANTS:
            _report(name, url, args, ideal)


def _report(name: str, url: str, args: argparse.Namespace, ideal: float) -> None:
    runs = []
    for _ in range(args.repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--loops", str(args.loops), "--concurrency",
             str(args.concurrency), "--measure", name, url],
            check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        runs.append(json.loads(out))
    cpu = sorted(r["cpu"] for r in runs)[len(runs) // 2]
    wall = sorted(r["wall"] for r in runs)[len(runs) // 2]
    print(
        f"  {name:26} CPU {cpu * 1e6 / args.loops:6.0f} us/GET; "
        f"wall {wall:.2f} s = {wall / ideal:.2f}x ideal"
    )


if __name__ == "__main__":
    main()
