"""The hostile-cloud matrix (issue 11): a real socket server answering the client's status GET
and heartbeat POST in every hostile way, each classified as docs/contract.md section 2 says,
within the request's time limit, with the client's memory bounded."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recovery_ledger.domain.observations import HeartbeatAnswer, StatusAnswer
from recovery_ledger.infra.cloud.client import CloudClient

from ..certificates import self_signed

Answer = Callable[[socket.socket], None]
MB = 1024 * 1024


def _headers(code: int, reason: str, extra: str = "", length: int | None = None) -> bytes:
    lines = f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n{extra}"
    if length is not None:
        lines += f"Content-Length: {length}\r\n"
    return (lines + "Connection: close\r\n\r\n").encode()


def huge_body(conn: socket.socket) -> None:
    conn.sendall(_headers(200, "OK"))
    chunk = b"x" * MB
    for _ in range(100):  # 100 MB, no Content-Length
        conn.sendall(chunk)


@functools.cache
def _bomb() -> bytes:
    """100 MB of JSON-looking zeros, gzip-compressed to about 100 KB (made in pieces)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    parts = [packer.compress(b'{"loop_id": "L", "status": "active", "pad": "')]
    zeros = b"0" * MB
    parts += [packer.compress(zeros) for _ in range(100)]
    return b"".join([*parts, packer.flush()])


def gzip_bomb(conn: socket.socket) -> None:
    bomb = _bomb()
    conn.sendall(_headers(200, "OK", "Content-Encoding: gzip\r\n", len(bomb)) + bomb)


def slowloris(conn: socket.socket) -> None:
    body = b'{"loop_id": "L", "status": "active"}'
    conn.sendall(_headers(200, "OK", length=len(body)))
    for byte in body:  # one byte every 0.3 s: never a read timeout, never an answer in time
        conn.sendall(bytes([byte]))
        time.sleep(0.3)


def redirect(conn: socket.socket) -> None:
    conn.sendall(_headers(307, "Temporary Redirect", "Location: http://127.0.0.1:9/x\r\n", 0))


def invalid_json(conn: socket.socket) -> None:
    body = b'{"loop_id": "L", "status": '
    conn.sendall(_headers(200, "OK", length=len(body)) + body)


def wrong_types(conn: socket.socket) -> None:
    body = b'{"loop_id": ["L"], "status": 1, "revived": "yes", "token": 7}'
    conn.sendall(_headers(200, "OK", length=len(body)) + body)


def too_many_requests(conn: socket.socket) -> None:
    conn.sendall(_headers(429, "Too Many Requests", "Retry-After: 999999999\r\n", 0))


def reset_mid_body(conn: socket.socket) -> None:
    conn.sendall(_headers(200, "OK", length=1000) + b'{"loop_id": "L", ')
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    conn.close()  # linger 0: RST


class HostileServer:
    def __init__(self, answer: Answer, tls: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.tls = tls
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, conn: socket.socket) -> None:
        try:
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            conn.recv(65536)
            self.answer(conn)
        except OSError:
            pass  # the client hung up: what a hostile server expects
        finally:
            with contextlib.suppress(OSError):
                conn.close()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., HostileServer]]:
    servers: list[HostileServer] = []

    def start(answer: Answer, tls: ssl.SSLContext | None = None) -> HostileServer:
        servers.append(HostileServer(answer, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _ask(url: str) -> tuple[StatusAnswer, HeartbeatAnswer, int]:
    """Both requests through the real client; and the client's peak memory."""

    async def both() -> tuple[StatusAnswer, HeartbeatAnswer]:
        async with CloudClient(url, connect_timeout=1.0, read_timeout=1.0) as client:
            status = await client.get_status("L", "runner-token")
            now = datetime.now(UTC)
            beat = await client.post_heartbeat("L", "runner-token", "jti", "proof", now)
            return status, beat.answer

    tracemalloc.start()
    try:
        status, heartbeat = asyncio.run(asyncio.wait_for(both(), timeout=30))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return status, heartbeat, peak


MALFORMED = (StatusAnswer(200, error="malformed"), HeartbeatAnswer(200, error="malformed"))


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (huge_body, MALFORMED),
        (gzip_bomb, MALFORMED),
        (slowloris, (StatusAnswer(None, error="timeout"), HeartbeatAnswer(None, error="timeout"))),
        (redirect, (StatusAnswer(307), HeartbeatAnswer(307))),
        (invalid_json, MALFORMED),
        (wrong_types, MALFORMED),
        (too_many_requests, (StatusAnswer(429), HeartbeatAnswer(429))),
        (
            reset_mid_body,
            (StatusAnswer(None, error="network"), HeartbeatAnswer(None, error="network")),
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_every_hostile_answer_is_classified_in_time_with_memory_bounded(
    serve: Callable[..., HostileServer],
    answer: Answer,
    expected: tuple[StatusAnswer, HeartbeatAnswer],
) -> None:
    _bomb()  # made before the clock of any request starts
    server = serve(answer)
    status, heartbeat, peak = _ask(f"http://127.0.0.1:{server.port}")
    assert (status, heartbeat) == expected
    assert peak < 8 * MB  # the 100 MB body and the 100 MB bomb never sit in memory


def _self_signed(tmp_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*self_signed(tmp_path))
    return context


def test_a_self_signed_certificate_is_refused_before_any_token_is_sent(
    serve: Callable[..., HostileServer], tmp_path: Path
) -> None:
    seen: list[bytes] = []

    def answer(conn: socket.socket) -> None:
        seen.append(b"request")
        body = b'{"loop_id": "L", "status": "active"}'
        conn.sendall(_headers(200, "OK", length=len(body)) + body)

    server = serve(answer, tls=_self_signed(tmp_path))
    status, heartbeat, _ = _ask(f"https://127.0.0.1:{server.port}")
    assert status == StatusAnswer(None, error="network")
    assert heartbeat == HeartbeatAnswer(None, error="network")
    assert seen == []  # the handshake failed: no request, so no token, ever reached it
