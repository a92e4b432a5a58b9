"""A cloud that does as little as possible, for benchmarks of the client side.

It answers every ``GET /v1/loops/<id>/status`` with ``{"loop_id": <id>, "status": "active"}``
after ``--latency`` seconds, over keep-alive HTTP/1.1, in its own process: unlike the
reference cloud (which verifies an ES256 signature per request, on the same cores) it is
never what a boot benchmark measures. It checks nothing: never use it for anything else.

    python bench/minimal_cloud.py [--latency 0.02]    # prints the URL, serves until killed

``--http2`` serves the same answers through hypercorn (HTTP/2 with prior knowledge, and
HTTP/1.1), for measuring an HTTP/2 client against the same server speaking HTTP/1.1; it needs
``pip install hypercorn`` (not a dependency of the project).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any
from urllib.parse import unquote


async def _serve_connection(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, latency: float
) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, path, _ = request_line.split(" ", 2)
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if latency:
                await asyncio.sleep(latency)
            parts = path.split("/")
            if method == "GET" and len(parts) == 5 and parts[4] == "status":
                status = b"200 OK"
                body = json.dumps({"loop_id": unquote(parts[3]), "status": "active"}).encode()
            else:
                status, body = b"404 Not Found", b"{}"
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main(latency: float, port: int) -> None:
    server = await asyncio.start_server(
        lambda r, w: _serve_connection(r, w, latency), "127.0.0.1", port, backlog=1024
    )
    bound = server.sockets[0].getsockname()[1]
    print(f"http://127.0.0.1:{bound}", flush=True)
    async with server:
        await server.serve_forever()


def _asgi(latency: float) -> Any:
    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(latency)
        parts = scope["path"].split("/")
        body = json.dumps({"loop_id": unquote(parts[3]), "status": "active"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


async def _main_http2(latency: float) -> None:
    import socket

    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    with socket.socket() as probe:  # hypercorn binds by name: find a free port first
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.loglevel = "ERROR"
    print(f"http://127.0.0.1:{port}", flush=True)
    await serve(_asgi(latency), config)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.02)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--http2", action="store_true", help="serve through hypercorn")
    args = parser.parse_args()
    try:
        asyncio.run(_main_http2(args.latency) if args.http2 else _main(args.latency, args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
