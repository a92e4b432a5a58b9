"""The boot's HTTP/1.1 pool (infra/cloud/http11.py) over real loopback sockets: what it sends,
when it reuses a connection and when it must not, caps, and TLS with the hostname checked."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from recovery_ledger.infra.cloud.http11 import (
    Http11Pool,
    Request,
    Response,
    TransportFailure,
    TransportTimeout,
)

from ..certificates import self_signed

# (request head, request body) -> raw bytes to send back; None closes the connection
Reply = Callable[[bytes, bytes], bytes | None]


def ok(body: bytes = b'{"ok": true}', extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


@dataclass
class Server:
    """Keep-alive HTTP/1.1 on loopback, one thread per connection, counting connections."""

    reply: Reply
    tls: ssl.SSLContext | None = None
    hang_up_after_each_answer: bool = False
    connections: int = 0
    requests: list[tuple[bytes, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError), contextlib.closing(conn):
            if self.tls is not None:
                conn = self.tls.wrap_socket(conn, server_side=True)
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                body, buffer = buffer[:length], buffer[length:]
                self.requests.append((head, body))
                answer = self.reply(head, body)
                if answer is None:
                    return
                conn.sendall(answer)
                if self.hang_up_after_each_answer:
                    return

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(reply: Reply, tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(reply, tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def pool_for(
    origin: str,
    tls: ssl.SSLContext | None = None,
    max_connections: int = 4,
    max_body_bytes: int = 1024,
) -> Http11Pool:
    return Http11Pool(
        origin,
        tls=tls,
        connect_timeout=2.0,
        max_connections=max_connections,
        max_body_bytes=max_body_bytes,
    )


def run(pool: Http11Pool, *requests: Request) -> list[Response]:
    async def go() -> list[Response]:
        try:
            return list(await asyncio.gather(*(pool.send(r) for r in requests)))
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_requests_reuse_at_most_max_connections(serve: Callable[..., Server]) -> None:
    server = serve(lambda head, _: ok(head.split(b" ")[1]))
    origin = f"http://127.0.0.1:{server.port}"
    requests = [Request("GET", f"{origin}/n/{i}") for i in range(60)]
    answers = run(pool_for(origin, max_connections=4), *requests)
    assert [a.body for a in answers] == [f"/n/{i}".encode() for i in range(60)]
    assert 1 <= server.connections <= 4  # 60 exchanges, kept alive


def test_what_goes_on_the_wire(serve: Callable[..., Server]) -> None:
    server = serve(lambda *_: ok())
    origin = f"http://127.0.0.1:{server.port}"
    pool = Http11Pool(
        origin,
        tls=None,
        connect_timeout=2.0,
        max_connections=1,
        max_body_bytes=1024,
        default_headers=(("User-Agent", "recovery-ledger"),),
    )
    run(
        pool,
        Request("GET", f"{origin}/v1/a%2Fb?x=1", (("Authorization", "Bearer t"),)),
    )
    run(pool, Request("POST", f"{origin}/v1/beat", (), b'{"k": 1}'))
    (get_head, get_body), (post_head, post_body) = server.requests
    get_lines = get_head.split(b"\r\n")
    assert get_lines[0] == b"GET /v1/a%2Fb?x=1 HTTP/1.1"
    assert f"host: 127.0.0.1:{server.port}".encode() in get_head.lower().split(b"\r\n")
    assert b"authorization: Bearer t" in get_head.lower().replace(b"bearer", b"Bearer")
    assert b"user-agent: recovery-ledger" in get_head.lower()
    assert get_body == b""
    assert post_head.split(b"\r\n")[0] == b"POST /v1/beat HTTP/1.1"
    assert b"content-length: 8" in post_head.lower()
    assert post_body == b'{"k": 1}'


def test_no_repr_of_a_request_shows_its_credentials() -> None:
    request = Request("GET", "https://cloud.example/v1/x", (("Authorization", "Bearer s3cr3t"),))
    assert "s3cr3t" not in repr(request) and "cloud.example" in repr(request)


def test_a_url_off_the_pools_origin_is_never_sent(serve: Callable[..., Server]) -> None:
    server = serve(lambda *_: ok())
    pool = pool_for(f"http://127.0.0.1:{server.port}")
    with pytest.raises(ValueError, match="origin"):
        run(pool, Request("GET", "http://127.0.0.2:1/steal"))
    assert server.requests == []


def test_a_connection_the_server_will_close_is_not_reused(serve: Callable[..., Server]) -> None:
    server = serve(lambda *_: ok(extra="Connection: close\r\n"))
    origin = f"http://127.0.0.1:{server.port}"
    answers = run(
        pool_for(origin, max_connections=1), *(Request("GET", f"{origin}/") for _ in range(3))
    )
    assert [a.status for a in answers] == [200, 200, 200]
    assert server.connections == 3


def test_an_idle_connection_closed_by_the_server_is_replaced(serve: Callable[..., Server]) -> None:
    server = serve(lambda *_: ok())
    server.hang_up_after_each_answer = True  # no "Connection: close": it just goes away
    origin = f"http://127.0.0.1:{server.port}"
    pool = pool_for(origin, max_connections=1)

    async def go() -> list[Response]:
        answers = []
        for _ in range(3):
            answers.append(await pool.send(Request("GET", f"{origin}/")))
            await asyncio.sleep(0.1)  # the hang-up reaches the client meanwhile
        await pool.aclose()
        return answers

    assert [a.status for a in asyncio.run(go())] == [200, 200, 200]
    assert server.connections == 3


def test_a_failure_mid_exchange_drops_that_connection(serve: Callable[..., Server]) -> None:
    answered: list[int] = []

    def every_second_hangs_up(*_: bytes) -> bytes | None:
        answered.append(1)
        return ok() if len(answered) % 2 else None

    server = serve(every_second_hangs_up)
    origin = f"http://127.0.0.1:{server.port}"
    pool = pool_for(origin, max_connections=1)

    async def go() -> tuple[Response, Response]:
        first = await pool.send(Request("GET", f"{origin}/"))
        with pytest.raises(TransportFailure):  # no answer: a failure, never retried here
            await pool.send(Request("GET", f"{origin}/"))
        second = await pool.send(Request("GET", f"{origin}/"))
        await pool.aclose()
        return first, second

    first, second = asyncio.run(go())
    assert (first.status, second.status) == (200, 200)
    assert len(server.requests) == 3
    assert server.connections == 2


def test_a_declared_body_over_the_cap_is_not_read_and_the_connection_dropped(
    serve: Callable[..., Server],
) -> None:
    server = serve(lambda *_: b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n" + b"x" * 10)
    origin = f"http://127.0.0.1:{server.port}"
    answers = run(pool_for(origin, max_connections=1), *(Request("GET", origin) for _ in range(2)))
    assert [(a.status, a.body) for a in answers] == [(200, None), (200, None)]
    assert server.connections == 2


def test_a_chunked_body_past_the_cap_is_dropped(serve: Callable[..., Server]) -> None:
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    server = serve(
        lambda *_: (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3 + b"0\r\n\r\n"
        )
    )
    origin = f"http://127.0.0.1:{server.port}"
    (small,) = run(pool_for(origin, max_body_bytes=4096), Request("GET", origin))
    (capped,) = run(pool_for(origin, max_body_bytes=2048), Request("GET", origin))
    assert small.body == b"y" * 3072
    assert capped.body is None


def test_a_compressed_answer_is_dropped_undecoded(serve: Callable[..., Server]) -> None:
    server = serve(lambda *_: ok(b"\x1f\x8b\x08", extra="Content-Encoding: gzip\r\n"))
    origin = f"http://127.0.0.1:{server.port}"
    (answer,) = run(pool_for(origin), Request("GET", origin))
    assert (answer.status, answer.body) == (200, None)


def test_a_refused_connection_is_a_failure_and_a_silent_listener_a_timeout() -> None:
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    with pytest.raises(TransportFailure):
        run(pool_for(f"http://127.0.0.1:{port}"), Request("GET", f"http://127.0.0.1:{port}/"))

    # a TLS origin whose server accepts TCP but never speaks: the handshake never ends
    with socket.create_server(("127.0.0.1", 0), backlog=1) as silent:
        origin = f"https://127.0.0.1:{silent.getsockname()[1]}"
        pool = Http11Pool(
            origin,
            tls=ssl.create_default_context(),
            connect_timeout=0.3,
            max_connections=1,
            max_body_bytes=1024,
        )
        with pytest.raises(TransportTimeout):
            run(pool, Request("GET", origin))


# -- TLS -------------------------------------------------------------------------------------


def tls_pair(hostname: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context, client context trusting exactly that certificate) for ``hostname``."""
    with tempfile.TemporaryDirectory() as directory:  # load_cert_chain reads only files
        cert, key = self_signed(Path(directory), hostname)
        server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        server.load_cert_chain(cert, key)
        client = ssl.create_default_context(cafile=cert)
    return server, client


def test_tls_to_a_trusted_certificate_for_this_host_works(serve: Callable[..., Server]) -> None:
    server_tls, client_tls = tls_pair("127.0.0.1")
    server = serve(lambda *_: ok(b"secret-free"), tls=server_tls)
    origin = f"https://127.0.0.1:{server.port}"
    (answer,) = run(pool_for(origin, tls=client_tls), Request("GET", f"{origin}/x"))
    assert (answer.status, answer.body) == (200, b"secret-free")


def test_tls_to_a_trusted_certificate_for_another_host_is_refused_before_sending(
    serve: Callable[..., Server],
) -> None:
    server_tls, client_tls = tls_pair("cloud.example")
    server = serve(lambda *_: ok(), tls=server_tls)
    origin = f"https://127.0.0.1:{server.port}"
    with pytest.raises(TransportFailure):
        run(pool_for(origin, tls=client_tls), Request("GET", f"{origin}/x"))
    assert server.requests == []


def test_an_https_origin_without_a_tls_context_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="TLS"):
        Http11Pool(
            "https://cloud.example",
            tls=None,
            connect_timeout=1.0,
            max_connections=1,
            max_body_bytes=1,
        )
